"""The records of read-only resource types, and the user attributes that name them.

A ResourceType document in SCIM_SCHEMAS_DIR with a name other than User or Group declares a
resource type that is read-only over SCIM (app/entitlements.py serves it); the vendor's app
supplies its records in `<SCIM_SCHEMAS_DIR>/records/<name>.json`: a JSON array of resources
(`id` and the attributes of the resource type's schema), or an object with them under
`Resources`. The file is read at start and again whenever it changes (its modification time
or size); write it to a temporary file and rename it into place. A file that is missing
means no records. One that cannot be read, or whose records break the schema (each record
is checked as a write is, app/characteristics.py), stops the server at start, and later
leaves the last good records in force, with the problem logged.

Okta Identity Governance reads entitlements and roles this way; a user's `entitlements[]` and
`roles[]` then name them by `value` (`check_references`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import errors
from app.characteristics import check_object
from app.definitions import SchemaError
from app.resources import ResourceType, registry

ENTITLEMENT_SCHEMA = "urn:okta:scim:schemas:core:1.0:Entitlement"
ROLE_SCHEMA = "urn:okta:scim:schemas:core:1.0:Role"
# A user attribute whose values name records of resource types with this schema.
REFERENCES = {"entitlements": ENTITLEMENT_SCHEMA, "roles": ROLE_SCHEMA}
IGNORED = frozenset({"schemas", "meta"})  # the server writes these

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Records:
    """One resource type's records as read, by id and in file order; `stamp` identifies the
    file's version that was read (None: there was no file)."""

    stamp: tuple[int, int] | None
    resources: list[dict[str, Any]]
    by_id: dict[str, dict[str, Any]]


_read: dict[Path, Records] = {}


def file_of(resource_type: ResourceType) -> Path:
    """Where a read-only resource type's records are."""
    folder = registry().folder
    assert folder is not None  # only a directory declares read-only resource types
    return folder / "records" / f"{resource_type.name}.json"


def records(resource_type: ResourceType) -> Records:
    """The records in force; the file is read again when it has changed."""
    path = file_of(resource_type)
    stamp = _stamp(path)
    found = _read.get(path)
    if found is not None and found.stamp == stamp:
        return found
    try:
        loaded = _load(resource_type, path, stamp)
    except SchemaError as exc:
        if found is None:
            raise
        log.error("%s; the records read before stay in force", exc)
        loaded = Records(stamp, found.resources, found.by_id)  # logged once per change
    _read[path] = loaded
    return loaded


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_mtime_ns, status.st_size


def _load(resource_type: ResourceType, path: Path, stamp: tuple[int, int] | None) -> Records:
    if stamp is None:
        return Records(None, [], {})
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SchemaError(f"{path}: not a readable JSON document ({exc})") from exc
    if isinstance(content, dict):
        content = content.get("Resources")
    if not isinstance(content, list):
        raise SchemaError(f"{path}: a JSON array of records, or an object with Resources")
    resources = [_record(resource_type, path, n, item) for n, item in enumerate(content)]
    by_id: dict[str, dict[str, Any]] = {}
    for resource in resources:
        if resource["id"] in by_id:
            raise SchemaError(f"{path}: id {resource['id']!r} is used twice")
        by_id[resource["id"]] = resource
    _unique(resource_type, path, resources)
    return Records(stamp, resources, by_id)


def _record(resource_type: ResourceType, path: Path, n: int, item: Any) -> dict[str, Any]:
    """One record checked against the schema, with its attributes' names as declared."""
    where = f"{path}: record {n}"
    if not isinstance(item, dict):
        raise SchemaError(f"{where} is not an object")
    if not isinstance(item.get("id"), str) or not item["id"] or len(item["id"]) > 256:
        raise SchemaError(f"{where} needs an id (a string of 1 to 256 characters)")
    attributes = resource_type.attributes
    values: dict[str, Any] = {}
    for key, value in item.items():
        if key in IGNORED or key == "id" or value is None:
            continue
        attribute = attributes.get(key.lower())
        if attribute is None or attribute.name in ("id", "meta"):
            raise SchemaError(f"{where}: {resource_type.schema} has no attribute {key!r}")
        values[attribute.name] = value
    schema_attributes = {k: a for k, a in attributes.items() if k not in ("id", "meta")}
    try:
        check_object(schema_attributes, values, "")
    except errors.ScimError as exc:
        raise SchemaError(f"{where} ({item['id']}): {exc.detail}") from exc
    return {"id": item["id"], **values}


def _unique(resource_type: ResourceType, path: Path, resources: list[dict[str, Any]]) -> None:
    for attribute in resource_type.attributes.values():
        if attribute.uniqueness == "none" or attribute.name == "id":
            continue
        seen: set[Any] = set()
        for resource in resources:
            value = resource.get(attribute.name)
            if isinstance(value, str) and not attribute.case_exact:
                value = value.casefold()
            if value is not None and value in seen:
                raise SchemaError(f"{path}: {attribute.name} {value!r} is used twice (uniqueness)")
            seen.add(value)


def check_references(resource_type: ResourceType, stored: dict[str, Any]) -> None:
    """A user's `entitlements` and `roles` values must name records, when a resource type
    of the Entitlement or Role schema is declared (400 invalidValue otherwise)."""
    if resource_type.name != "User":
        return
    catalogs = registry().catalogs
    if not catalogs:
        return
    for name, schema in REFERENCES.items():
        named = [t for t in catalogs.values() if t.schema == schema]
        if not named or not stored.get(name):
            continue
        for n, item in enumerate(stored[name]):
            value = item.get("value") if isinstance(item, dict) else item
            if not any(isinstance(value, str) and value in records(t).by_id for t in named):
                where = " or ".join(f"{t.name} ({t.endpoint})" for t in named)
                raise errors.InvalidValue(f"{name}[{n}].value {value!r} names no {where}")
