"""Incoming values to their stored form: what a write keeps, and in which shape.

`clean` keeps the known, writable attributes of a body; `shape` brings each value to the shape
the schema gives its attribute, on every write (POST and PUT bodies, PATCH values):
- a boolean sent as the string "True" / "false" (Entra; Microsoft's test collection posts them);
- a complex or multi-valued attribute sent as a JSON-encoded string (Entra sends `roles` as
  `"[{\\"primary\\":true,\\"value\\":\\"Admin\\"}]"`): decoded when it has the right shape,
  otherwise 400 invalidValue;
- a singular complex attribute with a `value` sub-attribute sent as a bare string (Entra sends
  the enterprise `manager` as `"<id>"`): `{"value": "<id>"}`, or nothing for `""`;
- a singular complex attribute sent as a one-element array (Microsoft's tutorial adds a manager
  as `[{"$ref": ..., "value": ...}]`): the element.
"""

from __future__ import annotations

from typing import Any

import orjson

from app import errors
from app.resources import Attribute, ResourceType, schema_attributes


def shape(attribute: Attribute, value: Any, whole: bool = True) -> Any:
    """`value` in the shape `attribute` takes; `whole` says it is the attribute itself (a list
    for a multi-valued one) rather than one of its values."""
    if isinstance(value, str) and (attribute.type == "complex" or attribute.multi_valued):
        value = _decoded(attribute, value, whole)
    if attribute.multi_valued and whole:
        if isinstance(value, list):
            return [shape(attribute, item, whole=False) for item in value]
        return value
    if attribute.type == "boolean" and isinstance(value, str):
        return {"true": True, "false": False}.get(value.lower(), value)
    if attribute.type == "complex":
        if isinstance(value, list) and len(value) <= 1 and not attribute.multi_valued:
            value = value[0] if value else None
        if isinstance(value, dict):
            return {k: _sub(attribute, k, v) for k, v in value.items()}
    return value


def _sub(attribute: Attribute, key: str, value: Any) -> Any:
    sub = attribute.sub.get(key.lower())
    return shape(sub, value) if sub is not None else value


def _decoded(attribute: Attribute, text: str, whole: bool) -> Any:
    stripped = text.strip()
    if not stripped.startswith(("[", "{")):
        if attribute.type == "complex" and "value" in attribute.sub and not attribute.multi_valued:
            return {"value": text} if text else None
        return text
    try:
        decoded = orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        raise errors.InvalidValue(f"{attribute.name}: {text[:80]!r} is not valid JSON") from exc
    items = decoded if isinstance(decoded, list) and attribute.multi_valued and whole else [decoded]
    wanted = dict if attribute.type == "complex" else (str, int, float, bool)
    if not all(isinstance(item, wanted) for item in items):
        raise errors.InvalidValue(f"{attribute.name}: {text[:80]!r} does not hold its values")
    return decoded


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
    value = shape(attribute, value)
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
