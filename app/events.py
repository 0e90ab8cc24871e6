"""Security events (RFC 9967): each successful write described as SETs (RFC 8417) in the outbox.

The handlers call `created`, `replaced`, `patched` or `deleted` inside their write transaction,
after the change: the events are rows of that transaction (app/outbox.py), so a change that
commits has its events and one that rolls back (a failed bulk operation's savepoint included)
has none. Only the claims are written here; they are signed when delivered (app/sets.py), and
`jti`, `iat`, `txn` and `toe` are fixed now. Nothing happens while no receiver is configured
(`config.Settings.events_on`).

`python -m app.events tail` prints the events as they come (app/tail.py).
"""

from __future__ import annotations

import re
import sqlite3
import sys
import time
import uuid
from typing import Any

from app import config, database, errors, outbox, rendering, sets, store, tenancy
from app.resources import USER, ResourceType, etag, meta, to_scim

PROV = "urn:ietf:params:scim:event:prov:"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# RFC 9967 §2.4: the provisioning events this server emits, lower-case (the URNs are
# case-insensitive; receivers should compare them so).
EVENT_URIS = [
    *(f"{PROV}{verb}:{kind}" for verb in ("create", "put", "patch") for kind in ("full", "notice")),
    f"{PROV}delete",
    f"{PROV}activate",
    f"{PROV}deactivate",
]

# The write transaction events were last appended in: its number (app/database.py), its txn,
# and the SCIM base URL of its request (read once: building it from the request is not cheap).
_txn: tuple[int, str, str] = (0, "", "")


def emitted() -> list[str]:
    """RFC 9967 §2.4: the event URIs this server emits with its settings (for
    /ServiceProviderConfig `securityEvents.eventUris`)."""
    kind = f":{_mode()}"
    return [
        uri for uri in EVENT_URIS if not uri.endswith((":full", ":notice")) or uri.endswith(kind)
    ]


def check(settings: config.Settings) -> None:
    """Refuse, at start, settings that would deliver events unsafely: the poll token equal to
    an IdP token (each must open only its own endpoints), or no key to sign with."""
    if not settings.events_on:
        return
    if settings.events_token in settings.tokens:
        raise ValueError("SCIM_EVENTS_TOKEN must differ from every SCIM_TOKEN")
    sets.signer(settings)


def before(resource_type: ResourceType, resource_id: str) -> dict[str, Any] | None:
    """The stored resource a PUT or PATCH is about to change (for `active` and `notice`), read
    inside the transaction; None when events are off or it does not exist (the write says so)."""
    settings = config.get()
    if not settings.events_on:
        return None
    if settings.events_mode == "full":  # only a user's `active` is compared: read it alone
        if resource_type is not USER:
            return None
        return {"active": store.attribute_of(USER, resource_id, "active")}
    try:  # `notice` compares every attribute
        return store.fetch(resource_type, resource_id).resource
    except errors.NotFound:
        return None


def created(
    conn: sqlite3.Connection,
    resource_type: ResourceType,
    row: store.Row,
    members: list[str] | None = None,
) -> None:
    """RFC 9967 §2.4.1 prov:create: `data` is the resource as stored (never a password)."""
    if not config.get().events_on:
        return
    if config.get().events_mode == "full":
        extra = {"members": [{"value": m} for m in members]} if members else None
        base = _transaction()[1]
        row_meta = meta(resource_type, row.id, row.version, row.created, row.last_modified, base)
        payload: dict[str, Any] = {
            "data": to_scim(resource_type, row.id, row.resource, row_meta, extra)
        }
    else:
        payload = {"attributes": _names(row.resource) + (["members"] if members else [])}
    payload["version"] = etag(row.version)
    _append(conn, resource_type, row, {f"{PROV}create:{_mode()}": payload})


def replaced(
    conn: sqlite3.Connection,
    resource_type: ResourceType,
    row: store.Row,
    body: dict[str, Any],
    was: dict[str, Any] | None,
) -> None:
    """RFC 9967 §2.4.2 prov:put: `data` is the request body without its password."""
    if not config.get().events_on:
        return
    if config.get().events_mode == "full":
        payload: dict[str, Any] = {"data": _without_password(body)}
    else:
        changed = _changed(was or {}, row.resource)
        changed += [k for k in body if k.lower() in ("password", "members")]
        payload = {"attributes": changed}
    payload["version"] = etag(row.version)
    events = {f"{PROV}put:{_mode()}": payload, **_activity(resource_type, was, row.resource)}
    _append(conn, resource_type, row, events)


def patched(
    conn: sqlite3.Connection,
    resource_type: ResourceType,
    row: store.Row,
    body: dict[str, Any],
    was: dict[str, Any] | None,
) -> None:
    """RFC 9967 §2.4.3 prov:patch: `data` is the PatchOp request without passwords."""
    if not config.get().events_on:
        return
    operations = body.get("Operations", [])
    if config.get().events_mode == "full":
        kept = [op for op in map(_operation_without_password, operations) if op is not None]
        payload: dict[str, Any] = {"data": {"schemas": [PATCH_SCHEMA], "Operations": kept}}
    else:
        payload = {"attributes": _patched_names(operations)}
    payload["version"] = etag(row.version)
    events = {f"{PROV}patch:{_mode()}": payload, **_activity(resource_type, was, row.resource)}
    _append(conn, resource_type, row, events)


def deleted(conn: sqlite3.Connection, resource_type: ResourceType, gone: store.Deleted) -> None:
    """RFC 9967 §2.4.4 prov:delete; a deleted user also leaves its groups: a prov:patch each."""
    if not config.get().events_on:
        return
    sets = [_claims(_subject(resource_type, gone.id, gone.external_id), {f"{PROV}delete": {}})]
    removal = {"op": "remove", "path": f'members[value eq "{gone.id}"]'}
    for group_id, version, external_id in gone.groups:
        if config.get().events_mode == "full":
            payload: dict[str, Any] = {"data": {"schemas": [PATCH_SCHEMA], "Operations": [removal]}}
        else:
            payload = {"attributes": ["members"]}
        payload["version"] = etag(version)
        subject = _subject_of("/Groups", group_id, external_id)
        sets.append(_claims(subject, {f"{PROV}patch:{_mode()}": payload}))
    outbox.append(conn, sets)


# --- the SET -------------------------------------------------------------------------------


def _append(
    conn: sqlite3.Connection, resource_type: ResourceType, row: store.Row, events: dict[str, Any]
) -> None:
    subject = _subject(resource_type, row.id, row.resource.get("externalId"))
    outbox.append(conn, [_claims(subject, events)])


def _claims(subject: dict[str, Any], events: dict[str, Any]) -> dict[str, Any]:
    """RFC 8417 §2.2 and RFC 9967 §2: one SET; `txn` is the write transaction's, `jti` is
    given by app/outbox.py."""
    settings = config.get()
    now = int(time.time())
    txn, base = _transaction()
    # The issuer names the tenant whose resource changed: its base URL, or SCIM_EVENTS_ISSUER
    # followed by `/tenants/<name>` for a tenant other than the default one (app/tenancy.py).
    issuer = settings.events_issuer
    issuer = issuer.rstrip("/") + tenancy.current().url_prefix if issuer else base
    claims: dict[str, Any] = {
        "iss": issuer,
        "iat": now,
        "txn": txn,
        "toe": now,
        "sub_id": subject,
        "events": events,
    }
    audience = settings.events_audience
    if audience:
        claims["aud"] = audience[0] if len(audience) == 1 else list(audience)
    return claims


def _subject(resource_type: ResourceType, resource_id: str, external_id: Any) -> dict[str, Any]:
    return _subject_of(resource_type.endpoint, resource_id, external_id)


def _subject_of(endpoint: str, resource_id: str, external_id: Any) -> dict[str, Any]:
    # RFC 9967 §2.2: the subject is `sub_id` in the "scim" format (RFC 9493); never `sub`.
    subject = {"format": "scim", "uri": f"{endpoint}/{resource_id}"}
    if isinstance(external_id, str):
        subject["externalId"] = external_id
    return subject


def _transaction() -> tuple[str, str]:
    """The write transaction's txn (RFC 9967 §2.1: every SET it causes carries the same) and
    the SCIM base URL of its request."""
    global _txn
    number = database.transaction_number()
    if _txn[0] != number:
        _txn = (number, uuid.uuid4().hex, rendering.base_url())
    return _txn[1], _txn[2]


def _mode() -> str:
    return config.get().events_mode


def _activity(
    resource_type: ResourceType, was: dict[str, Any] | None, now: dict[str, Any]
) -> dict[str, Any]:
    """RFC 9967 §2.4.5: prov:activate or prov:deactivate beside the change that flips `active`."""
    if resource_type is not USER or was is None:
        return {}
    active, previously = now.get("active") is True, was.get("active") is True
    if active == previously:
        return {}
    return {f"{PROV}activate": {}} if active else {f"{PROV}deactivate": {}}


# --- what a payload carries ----------------------------------------------------------------


def _is_password(name: str) -> bool:
    return name.lower().rsplit(":", 1)[-1] == "password"


def _without_password(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if not _is_password(k)}


def _operation_without_password(operation: Any) -> Any:
    """A PatchOp operation with any password taken out; None when nothing else is left."""
    if not isinstance(operation, dict):
        return operation
    path = operation.get("path")
    if isinstance(path, str) and _is_password(path.strip()):
        return None
    value = operation.get("value")
    if path is None and isinstance(value, dict) and any(_is_password(k) for k in value):
        rest = _without_password(value)
        return {**operation, "value": rest} if rest else None
    return operation


def _names(resource: dict[str, Any]) -> list[str]:
    """Attribute paths present in a stored resource; an extension's as `urn:attr`."""
    found = []
    for key, value in resource.items():
        if key.startswith("urn:") and isinstance(value, dict):
            found += [f"{key}:{sub}" for sub in value]
        elif key != "schemas":
            found.append(key)
    return found


def _changed(was: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The attribute paths whose values differ between two stored forms."""
    found = []
    for key in dict.fromkeys([*was, *now]):
        old, new = was.get(key), now.get(key)
        if key.startswith("urn:") and isinstance(old or new, dict):
            old, new = old or {}, new or {}
            found += [f"{key}:{s}" for s in dict.fromkeys([*old, *new]) if old.get(s) != new.get(s)]
        elif key != "schemas" and old != new:
            found.append(key)
    return found


def _patched_names(operations: list[Any]) -> list[str]:
    """The attribute paths a PatchOp's operations name: a filter `[...]` left out."""
    found: list[str] = []
    for operation in operations:
        if not isinstance(operation, dict):
            continue
        path, value = operation.get("path"), operation.get("value")
        if isinstance(path, str) and path.strip():
            found.append(re.sub(r"\[.*\]", "", path.strip()))
        elif isinstance(value, dict):
            found += _names(value)
    return list(dict.fromkeys(found))


if __name__ == "__main__":
    from app.tail import main

    sys.exit(main(sys.argv[1:]))
