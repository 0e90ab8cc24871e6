"""/Groups handlers (RFC 7644 §3), named by the spec's operationIds."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from app import config, errors, listing, membership, preconditions, rendering, spec, store
from app import patch as patching
from app.evaluate import element_matches
from app.resources import GROUP, clean
from app.selection import parse_selection

Response = tuple[Any, int, dict[str, str]]


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
    row = store.fetch("Group", group_id)
    if preconditions.not_modified(row.version):
        return None, 304, rendering.headers(GROUP, row)
    return _one(row, attributes, excluded_attributes, 200)


async def create(
    body: dict[str, Any], attributes: str | None = None, excluded_attributes: str | None = None
) -> Response:
    """RFC 7644 §3.3: create a group with its initial members."""
    stored = _stored(body)
    ids = membership.member_ids(body.get("members"))
    async with store.write() as conn:
        row = store.insert(conn, "Group", str(uuid.uuid4()), stored, _key(stored))
        store.add_members(conn, row.id, ids)
    return _one(row, attributes, excluded_attributes, 201)


async def replace(
    group_id: str,
    body: dict[str, Any],
    attributes: str | None = None,
    excluded_attributes: str | None = None,
) -> Response:
    """RFC 7644 §3.5.1: replace a group, members included (absent members means none)."""
    stored = _stored(body)
    ids = membership.member_ids(body.get("members"))
    async with store.write() as conn:
        preconditions.check_if_match(store.fetch("Group", group_id).version)
        row = store.update(conn, "Group", group_id, stored, _key(stored))
        store.clear_members(conn, group_id)
        store.add_members(conn, group_id, ids)
    return _one(row, attributes, excluded_attributes, 200)


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
    operations = patching.parse_operations(GROUP, body["Operations"])
    others, changes = membership.split(operations)
    async with store.write() as conn:
        row = store.fetch("Group", group_id)
        preconditions.check_if_match(row.version)
        if others:
            stored = _stored(patching.apply(GROUP, row.resource, others).resource)
            row = store.update(conn, "Group", group_id, stored, _key(stored))
        for change in changes:
            _apply_change(conn, group_id, change)
        if changes and not others:
            row = store.touch(conn, "Group", group_id)
    selected = attributes is not None or excluded_attributes is not None
    if not selected and store.has_more_members(group_id, config.get().patch_returns_members_up_to):
        return None, 204, rendering.headers(GROUP, row)
    return _one(row, attributes, excluded_attributes, 200)


async def delete(group_id: str) -> Response:
    """RFC 7644 §3.6: delete a group (its members, the users, stay)."""
    async with store.write() as conn:
        preconditions.check_if_match(store.fetch("Group", group_id).version)
        store.delete(conn, "Group", group_id)
    return None, 204, {}


def _apply_change(conn: sqlite3.Connection, group_id: str, change: membership.Change) -> None:
    if change.kind == "add":
        store.add_members(conn, group_id, change.ids)
    elif change.kind == "remove":
        # Removing a non-member is a no-op rather than noTarget: Okta retries a PATCH whose
        # answer it did not receive, and the retry must not fail.
        store.remove_members(conn, group_id, change.ids)
    elif change.kind == "clear":
        store.clear_members(conn, group_id)
    elif change.kind == "set":
        store.clear_members(conn, group_id)
        store.add_members(conn, group_id, change.ids)
    else:
        assert change.filter is not None
        members = store.members_of([group_id])[group_id]
        attribute = GROUP.attributes["members"]
        doomed = [
            m.value
            for m in members
            if element_matches(
                change.filter, {"value": m.value, "display": m.display, "type": "User"}, attribute
            )
        ]
        if not doomed:
            raise errors.NoTarget(f"no member matches members[{change.filter}]")
        store.remove_members(conn, group_id, doomed)


def _stored(body: dict[str, Any]) -> dict[str, Any]:
    stored = clean(GROUP, body)
    spec.check("GroupIn", stored)
    return stored


def _key(stored: dict[str, Any]) -> str:
    return str(stored["displayName"]).casefold()


def _one(row: store.Row, attributes: str | None, excluded: str | None, status: int) -> Response:
    selection = parse_selection(GROUP, attributes, excluded)
    resource = rendering.groups([row], selection)[0]
    return resource, status, rendering.headers(GROUP, row, created=status == 201)
