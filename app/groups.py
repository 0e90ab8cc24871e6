"""/Groups handlers (RFC 7644 §3), named by the spec's operationIds."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from app import (
    config,
    database,
    events,
    listing,
    members,
    membership,
    preconditions,
    rendering,
    spec,
    store,
)
from app import patch as patching
from app.membership import Change
from app.operations import Operation, parse_operations
from app.rendering import Response
from app.resources import GROUP
from app.values import clean, kept_write_only


async def search(
    filter_: str | None = None,
    start_index: int | None = None,
    count: int | None = None,
    attributes: str | None = None,
    excluded_attributes: str | None = None,
    sort_by: str | None = None,
    sort_order: str | None = None,
) -> Response:
    """RFC 7644 §3.4.2: list groups, filtered, sorted and paged."""
    wanted = listing.Query(
        filter_, start_index, count, attributes, excluded_attributes, sort_by, sort_order
    )
    return listing.search(GROUP, wanted), 200, {}


async def search_post(body: dict[str, Any]) -> Response:
    """RFC 7644 §3.4.3: the same search, its parameters in a SearchRequest body."""
    return listing.search(GROUP, listing.Query.from_body(body)), 200, {}


async def get(
    group_id: str, attributes: str | None = None, excluded_attributes: str | None = None
) -> Response:
    """RFC 7644 §3.4.1: one group by id; 304 when If-None-Match names its version."""
    row = store.fetch(GROUP, group_id)
    if preconditions.not_modified(row.version):
        return None, 304, rendering.headers(GROUP, row)
    return rendering.one(GROUP, row, attributes, excluded_attributes)


async def create(
    body: dict[str, Any], attributes: str | None = None, excluded_attributes: str | None = None
) -> Response:
    """RFC 7644 §3.3: create a group with its initial members."""
    stored = stored_form(body)
    ids = membership.member_ids(body.get("members"))
    async with database.write() as conn:
        row = write_create(conn, str(uuid.uuid4()), stored, ids)
        events.created(conn, GROUP, row, ids)
    return rendering.one(GROUP, row, attributes, excluded_attributes, 201)


async def replace(
    group_id: str,
    body: dict[str, Any],
    attributes: str | None = None,
    excluded_attributes: str | None = None,
) -> Response:
    """RFC 7644 §3.5.1: replace a group, members included (absent members means none)."""
    stored = stored_form(body)
    ids = membership.member_ids(body.get("members"))
    expected = preconditions.expected_versions()
    async with database.write() as conn:
        was = events.before(GROUP, group_id)
        row = write_replace(conn, group_id, stored, ids, expected)
        events.replaced(conn, GROUP, row, body, was)
    return rendering.one(GROUP, row, attributes, excluded_attributes)


async def patch(
    group_id: str,
    body: dict[str, Any],
    attributes: str | None = None,
    excluded_attributes: str | None = None,
) -> Response:
    """RFC 7644 §3.5.2: modify a group; member changes touch only those members' rows.

    The answer is the group (200) unless it has more than SCIM_PATCH_RETURNS_MEMBERS_UP_TO
    members and the request selects no attributes: then 204, so a membership change on a
    100,000-member group never serialises them all (RFC 7644 §3.5.2 allows either).
    """
    operations = parse_operations(GROUP, body["Operations"])
    others, changes = membership.split(operations)
    expected = preconditions.expected_versions()
    async with database.write() as conn:
        row = write_patch(conn, group_id, others, changes, expected)
        events.patched(conn, GROUP, row, body, None)
    selected = attributes is not None or excluded_attributes is not None
    if patch_status(group_id, selected) == 204:
        return None, 204, rendering.headers(GROUP, row)
    return rendering.one(GROUP, row, attributes, excluded_attributes)


async def delete(group_id: str) -> Response:
    """RFC 7644 §3.6: delete a group (its members, the users, stay)."""
    expected = preconditions.expected_versions()
    async with database.write() as conn:
        events.deleted(conn, GROUP, store.delete(conn, GROUP, group_id, expected))
    return None, 204, {}


# The writes of create, replace and patch, inside an open write transaction (here and in
# app/bulk.py); the bodies are checked before the transaction opens.


def write_create(
    conn: sqlite3.Connection, group_id: str, stored: dict[str, Any], ids: list[str]
) -> store.Row:
    """A new group and its members."""
    row = store.insert(conn, GROUP, group_id, stored)
    members.add_members(conn, group_id, ids)
    return row


def write_replace(
    conn: sqlite3.Connection,
    group_id: str,
    stored: dict[str, Any],
    ids: list[str],
    expected: store.Expected,
) -> store.Row:
    """A group replaced, members included (declared writeOnly attributes kept unless sent)."""
    stored = kept_write_only(GROUP, group_id, stored)
    row = store.update(conn, GROUP, group_id, stored, expected)
    members.clear_members(conn, group_id)
    members.add_members(conn, group_id, ids)
    return row


def write_patch(
    conn: sqlite3.Connection,
    group_id: str,
    others: list[Operation],
    changes: list[Change],
    expected: store.Expected,
) -> store.Row:
    """A PATCH split by membership.split: other attributes on the JSON, members as rows."""
    if others:
        current = store.fetch(GROUP, group_id)
        stored = stored_form(patching.apply(GROUP, current.resource, others).resource)
        row = store.update(conn, GROUP, group_id, stored, expected)
    else:
        row = store.touch(conn, GROUP, group_id, expected)
    for change in changes:
        membership.apply(conn, group_id, change)
    return row


def patch_status(group_id: str, selected: bool) -> int:
    """200 (with the group) or 204: see `patch`."""
    limit = config.get().patch_returns_members_up_to
    return 204 if not selected and members.has_more_members(group_id, limit) else 200


def stored_form(body: dict[str, Any]) -> dict[str, Any]:
    """What a group body stores: cleaned and held to GroupIn."""
    stored = clean(GROUP, body)
    spec.check("GroupIn", stored)
    return stored
