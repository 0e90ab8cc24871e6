"""Attribute definitions (RFC 7643 §7, §8.7.1) and resource types; stored rows to SCIM resources.

The schema documents are the one description of every attribute's characteristics: the built-in
ones in app/schemas/*.json, and those declared in SCIM_SCHEMAS_DIR (loaded and checked by
app/extensions.py). /Schemas serves them, and filters, PATCH paths, sorting, attribute
selection and the checks of written values look attributes up here, in the `Registry` in force.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from app import config
from app.filters import AttrPath
from app.tables import TABLES, Table

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@dataclass(frozen=True)
class Attribute:
    """One attribute's characteristics (RFC 7643 §2.2); sub-attributes by lower-case name.

    `indexed` is this server's own: an index answers `eq` on the attribute (app/indexes.py).
    """

    name: str
    type: str
    multi_valued: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    required: bool = False
    sub: dict[str, Attribute] = field(default_factory=dict)
    canonical_values: tuple[Any, ...] = ()
    uniqueness: str = "none"
    indexed: bool = False

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
            canonical_values=tuple(d.get("canonicalValues", ())),
            uniqueness=d.get("uniqueness", "none"),
            indexed=d.get("indexed", False),
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
    """A resource type (RFC 7643 §6) and the attributes of its schemas.

    Its schema extensions are those of the Registry in force: the built-in ones plus those a
    ResourceType document in SCIM_SCHEMAS_DIR adds.
    """

    name: str
    endpoint: str
    schema: str
    description: str

    @property
    def extensions(self) -> tuple[str, ...]:
        """The URNs of its schema extensions, in the order /ResourceTypes lists them."""
        return registry().extensions.get(self.name, ())

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
            extension = self.extension(urn)
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

    def extension(self, urn: str) -> str | None:
        """The URN of one of its extensions as declared, for a URN in any letter case."""
        lowered = urn.lower()
        return next((e for e in self.extensions if e.lower() == lowered), None)

    def extension_of(self, name: str) -> str | None:
        """The one extension that defines an attribute of this name (None: none, or several)."""
        found = [e for e in self.extensions if name.lower() in schema_attributes(e)]
        return found[0] if len(found) == 1 else None


USER = ResourceType("User", "/Users", USER_SCHEMA, "User Account")
GROUP = ResourceType("Group", "/Groups", GROUP_SCHEMA, "Group")
# The resource types stored in tables (app/tables.py); a Registry may add read-only ones.
RESOURCE_TYPES = {"User": USER, "Group": GROUP}
BUILTIN_EXTENSIONS: dict[str, tuple[str, ...]] = {"User": (ENTERPRISE_SCHEMA,), "Group": ()}


@dataclass(frozen=True, eq=False)
class Registry:
    """The schemas and resource types in force: the built-in ones and a directory's.

    `documents` are the Schema documents as /Schemas serves them; `required` holds the
    (resource type name, URN) pairs whose extension a resource must carry (RFC 7643 §6);
    `types` are every resource type, User and Group first; `declared` are the URNs a
    directory declared (their attributes are checked by app/characteristics.py).
    """

    documents: dict[str, dict[str, Any]]
    attributes: dict[str, dict[str, Attribute]]
    extensions: dict[str, tuple[str, ...]]
    types: dict[str, ResourceType]
    required: frozenset[tuple[str, str]] = frozenset()
    declared: frozenset[str] = frozenset()
    folder: Path | None = None

    @cached_property
    def catalogs(self) -> dict[str, ResourceType]:
        """The read-only resource types a directory declared (app/entitlements.py), by name."""
        return {n: t for n, t in self.types.items() if n not in RESOURCE_TYPES}


_LOADED: dict[str | None, Registry] = {}


def registry() -> Registry:
    """The Registry of the SCIM_SCHEMAS_DIR in force, loaded once per directory."""
    folder = config.get().schemas_dir
    found = _LOADED.get(folder)
    if found is None:
        # app/extensions.py builds Registries from this module's classes, so it is imported
        # here, on the first use of a directory, rather than at the top.
        from app import extensions

        found = _LOADED[folder] = extensions.load(folder)
    return found


@cache
def builtin_documents() -> dict[str, dict[str, Any]]:
    """The built-in schema documents (app/schemas/*.json), by URN."""
    folder = Path(__file__).parent / "schemas"
    documents = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    return {d["id"]: d for d in documents}


def schema_documents() -> dict[str, dict[str, Any]]:
    """The schema documents served at /Schemas, by URN."""
    return registry().documents


def schema_attributes(urn: str) -> dict[str, Attribute]:
    """A schema's attributes by lower-case name."""
    return registry().attributes[urn]


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
    """The `schemas` attribute: the core schema plus the URN of each extension object present,
    declared or not (app/values.py keeps undeclared ones as sent)."""
    found = [resource_type.schema]
    for key in stored:
        if ":" in key and key[:4].lower() == "urn:":  # no core attribute name has a colon
            found.append(key)
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
