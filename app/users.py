"""/Users handlers (RFC 7644 §3), named by the spec's operationIds."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from app import database, events, listing, preconditions, rendering, spec, store
from app import patch as patching
from app.operations import Operation, parse_operations
from app.passwords import hash_all, hash_off_loop
from app.rendering import Response
from app.resources import ENTERPRISE_SCHEMA, USER
from app.values import clean, kept_write_only, normalize_primary


async def search(
    filter_: str | None = None,
    start_index: int | None = None,
    count: int | None = None,
    attributes: str | None = None,
    excluded_attributes: str | None = None,
    sort_by: str | None = None,
    sort_order: str | None = None,
) -> Response:
    """RFC 7644 §3.4.2: list users, filtered, sorted and paged."""
    wanted = listing.Query(
        filter_, start_index, count, attributes, excluded_attributes, sort_by, sort_order
    )
    return listing.search(USER, wanted), 200, {}


async def search_post(body: dict[str, Any]) -> Response:
    """RFC 7644 §3.4.3: the same search, its parameters in a SearchRequest body."""
    return listing.search(USER, listing.Query.from_body(body)), 200, {}


async def get(
    user_id: str, attributes: str | None = None, excluded_attributes: str | None = None
) -> Response:
    """RFC 7644 §3.4.1: one user by id; 304 when If-None-Match names its version."""
    row = store.fetch(USER, user_id)
    if preconditions.not_modified(row.version):
        return None, 304, rendering.headers(USER, row)
    return rendering.one(USER, row, attributes, excluded_attributes)


async def create(
    body: dict[str, Any], attributes: str | None = None, excluded_attributes: str | None = None
) -> Response:
    """RFC 7644 §3.3: create a user; userName is unique regardless of letter case (409)."""
    stored = stored_form(body)
    password_hash = await hash_off_loop(body.get("password"))
    async with database.write() as conn:
        row = store.insert(conn, USER, str(uuid.uuid4()), stored, password_hash)
        events.created(conn, USER, row)
    return rendering.one(USER, row, attributes, excluded_attributes, 201)


async def replace(
    user_id: str,
    body: dict[str, Any],
    attributes: str | None = None,
    excluded_attributes: str | None = None,
) -> Response:
    """RFC 7644 §3.5.1: replace a user; `password` (and any declared writeOnly attribute) is
    kept unless the body carries it."""
    stored = stored_form(body)
    password_hash = await hash_off_loop(body.get("password"))
    expected = preconditions.expected_versions()
    async with database.write() as conn:
        stored = kept_write_only(USER, user_id, stored)
        was = events.before(USER, user_id)
        row = store.update(conn, USER, user_id, stored, expected, password_hash)
        events.replaced(conn, USER, row, body, was)
    return rendering.one(USER, row, attributes, excluded_attributes)


async def patch(
    user_id: str,
    body: dict[str, Any],
    attributes: str | None = None,
    excluded_attributes: str | None = None,
) -> Response:
    """RFC 7644 §3.5.2: modify a user; all operations apply together or not at all."""
    operations = parse_operations(USER, body["Operations"])
    # Hash before the transaction opens: nothing is awaited while it holds the write lock.
    hashes = await hash_all(patch_passwords(operations))
    expected = preconditions.expected_versions()
    async with database.write() as conn:
        was = events.before(USER, user_id)
        row = write_patch(conn, user_id, operations, expected, hashes)
        events.patched(conn, USER, row, body, was)
    return rendering.one(USER, row, attributes, excluded_attributes)


async def delete(user_id: str) -> Response:
    """RFC 7644 §3.6: delete a user and its group memberships."""
    expected = preconditions.expected_versions()
    async with database.write() as conn:
        events.deleted(conn, USER, store.delete(conn, USER, user_id, expected))
    return None, 204, {}


def write_patch(
    conn: sqlite3.Connection,
    user_id: str,
    operations: list[Operation],
    expected: store.Expected,
    hashes: dict[str, str],
) -> store.Row:
    """A PATCH's reads and writes inside an open write transaction (here and in app/bulk.py);
    `hashes` has the hash of every password in the operations (patch_passwords)."""
    current = store.fetch(USER, user_id)
    result = patching.apply(USER, current.resource, operations)
    password_hash = hashes[result.password] if result.password else None
    stored = stored_form(result.resource)
    return store.update(conn, USER, user_id, stored, expected, password_hash, current.resource)


def stored_form(body: dict[str, Any]) -> dict[str, Any]:
    """What a user body stores: cleaned, one primary value per attribute, held to UserIn."""
    stored = clean(USER, body)
    normalize_primary(stored)
    _link_manager(stored)
    spec.check("UserIn", stored)
    return stored


def _link_manager(stored: dict[str, Any]) -> None:
    """A manager that is one of our users gets its `$ref`, relative as RFC 7643 §8.3 writes
    it; another value (an id from elsewhere) keeps the `$ref` the client sent, if any."""
    manager = stored.get(ENTERPRISE_SCHEMA, {}).get("manager")
    if not isinstance(manager, dict) or not isinstance(manager.get("value"), str):
        return
    if store.exists(USER, manager["value"]):
        manager["$ref"] = f"../Users/{manager['value']}"


def patch_passwords(operations: list[Operation]) -> list[str]:
    """Every password the operations may set, to be hashed before the transaction opens.

    app/patch.py takes a password from an operation whose path is `password`, or from a
    path-less value's `password` key (URN-qualified or not).
    """
    found: list[Any] = []
    for operation in operations:
        value = operation.value
        if operation.path is not None and operation.path.attribute.name == "password":
            found.append(value)
        elif operation.path is None and isinstance(value, dict):
            found += [v for k, v in value.items() if k.lower().split(":")[-1] == "password"]
    return [p for p in found if isinstance(p, str) and p]
