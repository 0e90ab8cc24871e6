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

import re
from typing import Any

import orjson

from app import characteristics, config, errors, records, store
from app.resources import Attribute, ResourceType, registry, schema_attributes

# RFC 8141: `urn:`, a namespace identifier, `:`, the rest; what an undeclared extension's
# object may be keyed by. An `<urn>:<attribute>` key names one attribute in it (Entra's form).
UNDECLARED_URN = re.compile(r"urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:\S+", re.ASCII | re.IGNORECASE)
ATTRIBUTE_NAME = re.compile(r"[A-Za-z][\w-]*", re.ASCII)


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


def undeclared(resource_type: ResourceType, urn: str) -> bool:
    """Whether `urn` names an extension object no document declares for this resource type."""
    lowered = urn.lower()
    return (
        lowered != resource_type.schema.lower()
        and resource_type.extension(urn) is None
        and UNDECLARED_URN.fullmatch(urn) is not None
    )


def clean(resource_type: ResourceType, body: dict[str, Any]) -> dict[str, Any]:
    """The stored form of an incoming body: known attributes only, canonical names, no nulls.

    Read-only attributes (`id`, `meta`, `groups`, a manager's `displayName`) and `schemas` are
    dropped: Okta's PUT sends back the whole object it read
    (tests/exchanges/okta/update-profile.json). Unknown attributes are ignored. An object
    under a declared extension's URN keeps its declared attributes (app/characteristics.py
    checks them); one under an undeclared URN is kept as sent, left out or refused, as
    SCIM_UNDECLARED_EXTENSIONS says, whether or not `schemas` lists its URN.
    """
    stored = _clean_attributes(resource_type.writable, body)
    for key, value in body.items():
        if ":" in key and key[:4].lower() == "urn:":  # no core attribute name has a colon
            _clean_urn(resource_type, key, value, stored)
    characteristics.conform(resource_type, stored)
    records.check_references(resource_type, stored)
    return stored


def _clean_urn(resource_type: ResourceType, key: str, value: Any, stored: dict[str, Any]) -> None:
    """A body member keyed by a URN: an extension's object, or `<urn>:<attribute>` (RFC 7644
    §3.10's attribute notation, which Entra uses for extension attributes)."""
    extension = resource_type.extension(key)
    if extension is not None or key.lower() == resource_type.schema.lower():
        if isinstance(value, dict):
            _merge(resource_type, extension, value, stored)
        return
    urn, _, name = key.rpartition(":")
    extension = resource_type.extension(urn)
    if extension is not None or urn.lower() == resource_type.schema.lower():
        _merge(resource_type, extension, {name: value}, stored)
    elif value not in (None, "", [], {}):
        _undeclared(key, value, stored)


def _merge(
    resource_type: ResourceType,
    extension: str | None,
    values: dict[str, Any],
    stored: dict[str, Any],
) -> None:
    """Attributes of the core schema (extension None) or of an extension, into `stored`."""
    if extension is None:
        cleaned = _clean_attributes(resource_type.writable, values)
        stored.update({k: v for k, v in cleaned.items() if k not in stored})
        return
    cleaned = _clean_attributes(schema_attributes(extension), values)
    if cleaned:
        stored.setdefault(extension, {}).update(cleaned)


def _undeclared(key: str, value: Any, stored: dict[str, Any]) -> None:
    policy = config.get().undeclared_extensions
    if policy == "ignore":
        return
    urn, name = (key, None) if isinstance(value, dict) else key.rpartition(":")[::2]
    if policy == "reject":
        raise errors.InvalidSyntax(
            f"{urn} is not a schema extension this server declares (see /Schemas)"
        )
    if not UNDECLARED_URN.fullmatch(urn) or (
        name is not None and not ATTRIBUTE_NAME.fullmatch(name)
    ):
        raise errors.InvalidValue(
            f"{key!r} is neither an extension's object under its URN nor <urn>:<attribute>"
        )
    if name is None:
        stored.setdefault(urn, {}).update(value)
    else:
        stored.setdefault(urn, {})[name] = value


def kept_write_only(
    resource_type: ResourceType, resource_id: str, stored: dict[str, Any]
) -> dict[str, Any]:
    """A PUT's stored form with the declared writeOnly attributes it leaves out kept as stored.

    The server never returns them, so a client that PUTs back what it read (Okta's profile
    push) could not send them: like `password`, they stay unless the body carries them. Call
    inside the write transaction; without declared writeOnly attributes nothing is read.
    """
    schemas = registry()
    urns = [
        urn
        for urn in resource_type.extensions
        if urn in schemas.declared
        and any(a.mutability == "writeOnly" for a in schemas.attributes[urn].values())
    ]
    if not urns:
        return stored
    current = store.fetch(resource_type, resource_id).resource
    for urn in urns:
        for attribute in schemas.attributes[urn].values():
            value = current.get(urn, {}).get(attribute.name)
            if attribute.mutability == "writeOnly" and value is not None:
                stored.setdefault(urn, {}).setdefault(attribute.name, value)
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
