"""Attribute definitions (app/schemas/*.json, RFC 7643 §8.7.1); stored rows to SCIM resources.

The schema files are the one description of every attribute's characteristics: /Schemas serves
them, and filters, PATCH paths, sorting and attribute selection look attributes up here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from app.filters import AttrPath
from app.tables import TABLES, Table

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@dataclass(frozen=True)
class Attribute:
    """One attribute's characteristics (RFC 7643 §2.2); sub-attributes by lower-case name."""

    name: str
    type: str
    multi_valued: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    required: bool = False
    sub: dict[str, Attribute] = field(default_factory=dict)

    @classmethod
    def from_schema(cls, d: dict[str, Any]) -> Attribute:
        """Build from a schema document's attribute definition."""
        return cls(
            name=d["name"],
            type=d["type"],
            multi_valued=d.get("multiValued", False),
            case_exact=d.get("caseExact", False),
            mutability=d.get("mutability", "readWrite"),
            returned=d.get("returned", "default"),
            required=d.get("required", False),
            sub={s["name"].lower(): cls.from_schema(s) for s in d.get("subAttributes", [])},
        )


def _simple(name: str, type_: str = "string", **kw: Any) -> Attribute:
    return Attribute(name, type_, **kw)


# RFC 7643 §3.1: common attributes, defined by the protocol rather than by any schema.
COMMON: dict[str, Attribute] = {
    "id": _simple("id", case_exact=True, mutability="readOnly", returned="always"),
    "externalid": _simple("externalId", case_exact=True),
    "meta": Attribute(
        "meta",
        "complex",
        mutability="readOnly",
        sub={
            "resourcetype": _simple("resourceType", case_exact=True, mutability="readOnly"),
            "created": _simple("created", "dateTime", mutability="readOnly"),
            "lastmodified": _simple("lastModified", "dateTime", mutability="readOnly"),
            "location": _simple("location", "reference", case_exact=True, mutability="readOnly"),
            "version": _simple("version", case_exact=True, mutability="readOnly"),
        },
    ),
}


@dataclass(frozen=True)
class ResourceType:
    """A resource type (RFC 7643 §6) and the attributes of its schemas."""

    name: str
    endpoint: str
    schema: str
    extensions: tuple[str, ...]
    description: str

    @cached_property
    def attributes(self) -> dict[str, Attribute]:
        """Core-schema and common attributes, by lower-case name."""
        return {**COMMON, **schema_attributes(self.schema)}

    @cached_property
    def writable(self) -> dict[str, Attribute]:
        """The attributes a request body can set and the resource's JSON stores."""
        elsewhere = self.table.stored_elsewhere
        return {k: a for k, a in self.attributes.items() if k not in elsewhere}

    @property
    def table(self) -> Table:
        """Where this resource type is stored (app/tables.py)."""
        return TABLES[self.name]

    def resolve(self, path: AttrPath) -> tuple[str | None, Attribute, Attribute | None] | None:
        """(extension URN or None, attribute, sub-attribute) for a path, or None if unknown.

        A name without a URN is looked up in the core schema, then in the extensions where it
        is unique: RFC 7644 §3.10 says clients SHOULD, not MUST, qualify extension attributes
        (Entra sends `manager` for the enterprise extension's).
        """
        urn = path.urn
        if urn is not None and urn.lower() == self.schema.lower():
            urn = None
        if urn is None:
            attributes = self.attributes
            if path.attr.lower() not in attributes:
                urn = self.extension_of(path.attr)
                attributes = schema_attributes(urn) if urn else attributes
        else:
            extension = next((e for e in self.extensions if e.lower() == urn.lower()), None)
            if extension is None:
                return None
            urn, attributes = extension, schema_attributes(extension)
        attribute = attributes.get(path.attr.lower())
        if attribute is None:
            return None
        if path.sub is None:
            return urn, attribute, None
        sub = attribute.sub.get(path.sub.lower())
        return (urn, attribute, sub) if sub is not None else None

    def extension_of(self, name: str) -> str | None:
        """The one extension that defines an attribute of this name (None: none, or several)."""
        found = [e for e in self.extensions if name.lower() in schema_attributes(e)]
        return found[0] if len(found) == 1 else None


USER = ResourceType("User", "/Users", USER_SCHEMA, (ENTERPRISE_SCHEMA,), "User Account")
GROUP = ResourceType("Group", "/Groups", GROUP_SCHEMA, (), "Group")
RESOURCE_TYPES = {"User": USER, "Group": GROUP}


@cache
def schema_documents() -> dict[str, dict[str, Any]]:
    """The schema documents served at /Schemas, by URN."""
    folder = Path(__file__).parent / "schemas"
    documents = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    return {d["id"]: d for d in documents}


@cache
def schema_attributes(urn: str) -> dict[str, Attribute]:
    """A schema's attributes by lower-case name."""
    return {
        a["name"].lower(): Attribute.from_schema(a) for a in schema_documents()[urn]["attributes"]
    }


# --- stored form <-> SCIM form ---------------------------------------------------------------


def meta(
    resource_type: ResourceType,
    resource_id: str,
    version: int,
    created: str,
    last_modified: str,
    base_url: str,
) -> dict[str, str]:
    """The `meta` attribute (RFC 7643 §3.1); `version` is a weak ETag (RFC 7644 §3.14)."""
    return {
        "resourceType": resource_type.name,
        "created": created,
        "lastModified": last_modified,
        "location": f"{base_url}{resource_type.endpoint}/{resource_id}",
        "version": etag(version),
    }


def etag(version: int) -> str:
    """A version number as a weak entity tag."""
    return f'W/"{version}"'


def schemas_of(resource_type: ResourceType, stored: dict[str, Any]) -> list[str]:
    """The `schemas` attribute: the core schema plus each extension present."""
    found = [resource_type.schema]
    for extension in resource_type.extensions:
        if extension in stored:
            found.append(extension)
    return found


def to_scim(
    resource_type: ResourceType,
    resource_id: str,
    stored: dict[str, Any],
    meta_value: dict[str, str],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A stored resource as the client sees it: schemas, id, attributes, computed ones, meta."""
    scim: dict[str, Any] = {"schemas": schemas_of(resource_type, stored), "id": resource_id}
    scim.update(stored)
    if extra:
        scim.update(extra)
    scim["meta"] = meta_value
    return scim
