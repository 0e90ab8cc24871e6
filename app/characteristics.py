"""Declared attributes' characteristics held on every write (RFC 7643 §2.2, §2.3).

app/values.py cleans a body (known, writable attributes only, in the shape of their type);
`conform` then checks the attributes of the extensions declared in SCIM_SCHEMAS_DIR: each
value's type, `canonicalValues`, `required` (and a required extension's presence), and gives
values their stored form (a dateTime in UTC with milliseconds, as filters compare it; a
canonical value as declared). Every problem is 400 invalidValue naming the attribute. The
same checks hold the records of a read-only resource type (app/records.py).

The built-in schemas are checked by the spec (app/spec.py `check`); uniqueness and
immutability are the database's (app/indexes.py).
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any

from app import errors
from app.resources import Attribute, ResourceType, registry

# xsd:dateTime (RFC 7643 §2.3.5): a date, a time, optional fractions and time zone.
DATETIME = re.compile(r"-?\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?", re.ASCII)
JSON_NAMES = {str: "a string", bool: "a boolean", int: "an integer", float: "a number"}


def conform(resource_type: ResourceType, stored: dict[str, Any]) -> None:
    """Check (and bring to their stored form) the declared extensions' values in `stored`."""
    schemas = registry()
    if not schemas.declared:
        return
    for urn in schemas.extensions.get(resource_type.name, ()):
        if urn not in stored:
            if (resource_type.name, urn) in schemas.required:
                raise errors.InvalidValue(
                    f"{urn} is required on every {resource_type.name} (/ResourceTypes)"
                )
        elif urn in schemas.declared:
            check_object(schemas.attributes[urn], stored[urn], f"{urn}:")


def check_object(attributes: dict[str, Attribute], values: dict[str, Any], prefix: str) -> None:
    """Check the values of an object against its attributes, in place: required ones present,
    each of its type (`prefix` names the object in messages)."""
    for attribute in attributes.values():
        if attribute.required and attribute.name not in values:
            raise errors.InvalidValue(f"{prefix}{attribute.name} is required")
    for name, value in values.items():
        found = attributes.get(name.lower())
        if found is not None:
            values[name] = _value(found, value, f"{prefix}{name}")


def _value(attribute: Attribute, value: Any, where: str) -> Any:
    if not attribute.multi_valued:
        return _single(attribute, value, where)
    if not isinstance(value, list):
        raise errors.InvalidValue(f"{where} is multi-valued: send a list")
    return [_single(attribute, item, f"{where}[{n}]") for n, item in enumerate(value)]


def _single(attribute: Attribute, value: Any, where: str) -> Any:
    kind = attribute.type
    if kind == "complex":
        if not isinstance(value, dict):
            raise errors.InvalidValue(f"{where} is complex: send an object of its sub-attributes")
        check_object(attribute.sub, value, f"{where}.")
        return value
    if kind in ("string", "reference", "binary", "dateTime"):
        _expect(value, (str,), where, "a string")
    elif kind == "boolean":
        _expect(value, (bool,), where, "a boolean")
    elif kind == "integer":
        _expect(value, (int,), where, "an integer")
    elif kind == "decimal":
        _expect(value, (int, float), where, "a number")
    if kind == "binary":
        _base64(value, where)
    elif kind == "dateTime":
        return datetime_value(value, where)
    return _canonical(attribute, value, where) if attribute.canonical_values else value


def _expect(value: Any, kinds: tuple[type, ...], where: str, wanted: str) -> None:
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        found = JSON_NAMES.get(type(value), "an object or a list")
        raise errors.InvalidValue(f"{where} must be {wanted}, not {found}")


def _base64(value: str, where: str) -> None:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise errors.InvalidValue(f"{where} is binary: send it base64-encoded") from exc


def datetime_value(text: str, where: str) -> str:
    """An xsd:dateTime in the stored form filters compare (UTC, milliseconds, Z)."""
    try:
        if not DATETIME.fullmatch(text):
            raise ValueError(text)
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        stamp = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    except (ValueError, OverflowError) as exc:  # year 9999 at -23:59 overflows in UTC
        raise errors.InvalidValue(
            f"{where} must be a dateTime such as 2026-11-28T10:00:00Z, not {text[:40]!r}"
        ) from exc
    return stamp.replace("+00:00", "Z")


def _canonical(attribute: Attribute, value: Any, where: str) -> Any:
    """The declared spelling of a canonical value (letter case ignored unless caseExact)."""
    folds = not attribute.case_exact and isinstance(value, str)
    for canonical in attribute.canonical_values:
        if canonical == value and type(canonical) is type(value):
            return canonical
        if folds and isinstance(canonical, str) and canonical.casefold() == value.casefold():
            return canonical
    shown = ", ".join(repr(v) for v in attribute.canonical_values)
    raise errors.InvalidValue(f"{where} must be one of {shown}, not {value!r}")
