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
        """(extension URN or None, attribute, sub-attribute) for a path, or None if unknown."""
        urn = path.urn
        if urn is not None and urn.lower() == self.schema.lower():
            urn = None
        if urn is None:
            attributes = self.attributes
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


def clean(resource_type: ResourceType, body: dict[str, Any]) -> dict[str, Any]:
    """The stored form of an incoming body: known attributes only, canonical names, no nulls.

    Read-only attributes (`id`, `meta`, `groups`, a manager's `displayName`) and `schemas` are
    dropped: Okta's PUT sends back the whole object it read
    (tests/exchanges/okta/update-profile.json).
    Unknown attributes are ignored.
    """
    stored = _clean_attributes(resource_type.writable, body)
    for extension in resource_type.extensions:
        block = next((v for k, v in body.items() if k.lower() == extension.lower()), None)
        if isinstance(block, dict):
            inner = _clean_attributes(schema_attributes(extension), block)
            if inner:
                stored[extension] = inner
    return stored


def _clean_attributes(attributes: dict[str, Attribute], values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        attribute = attributes.get(key.lower())
        if attribute is None or attribute.mutability == "readOnly":
            continue
        cleaned = _clean_value(attribute, value)
        if cleaned is not None:
            out[attribute.name] = cleaned
    return out


def _clean_value(attribute: Attribute, value: Any) -> Any:
    if value is None:
        return None
    if attribute.multi_valued:
        items = value if isinstance(value, list) else [value]
        cleaned = [_clean_single(attribute, v) for v in items]
        kept = [v for v in cleaned if v not in (None, {})]
        return kept or None
    return _clean_single(attribute, value)


def _clean_single(attribute: Attribute, value: Any) -> Any:
    if attribute.type == "complex" and isinstance(value, dict):
        return _clean_attributes(attribute.sub, value) or None
    return value


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


def normalize_primary(stored: dict[str, Any]) -> None:
    """RFC 7643 §2.4: at most one value of a multi-valued attribute has `primary: true`.

    The last value marked primary wins.
    """
    for values in stored.values():
        settle_primary(values)


def primaries_of(values: Any) -> set[int]:
    """Identities of the values now marked primary, to tell settle_primary which are new."""
    if not isinstance(values, list):
        return set()
    return {id(v) for v in values if isinstance(v, dict) and v.get("primary") is True}


def settle_primary(values: Any, before: set[int] | None = None) -> None:
    """Leave one value marked primary: the last one marked since `before` (else the last)."""
    if not isinstance(values, list):
        return
    marked = [i for i, v in enumerate(values) if isinstance(v, dict) and v.get("primary") is True]
    if len(marked) < 2:
        return
    fresh = [i for i in marked if id(values[i]) not in (before or set())] or marked
    keep = fresh[-1]
    for i in marked:
        if i != keep:
            values[i] = {k: v for k, v in values[i].items() if k != "primary"}
