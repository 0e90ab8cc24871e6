"""Group PATCH operations on `members`, split off so they run as SQL on the membership table.

A 100,000-member group is never loaded to add or remove one member: `add`, `replace`, removal
by `members[value eq "id"]` (or an `or` of those) and Entra's removal by value list each become
one statement per member. Other member filters fall back to reading the members.

`split` is pure; `apply` runs one change inside the caller's write transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from app import errors, members
from app.checks import Checked
from app.evaluate import element_matches
from app.filters import AttrPath, Compare, Node, Or
from app.operations import Operation


@dataclass
class Change:
    """One membership step: add ids, remove ids, remove all, or set exactly these ids."""

    kind: str  # "add", "remove", "clear", "set", or "remove_matching"
    ids: list[str] = field(default_factory=list)
    filter: Node | None = None  # for remove_matching: as written, for the error message
    checked: Checked | None = None  # and checked, to evaluate against each member


def split(operations: list[Operation]) -> tuple[list[Operation], list[Change]]:
    """(operations on other attributes, membership changes), each in request order."""
    others: list[Operation] = []
    changes: list[Change] = []
    for operation in operations:
        path = operation.path
        if path is None:
            value = operation.value
            if isinstance(value, dict) and any(k.lower() == "members" for k in value):
                members = next(v for k, v in value.items() if k.lower() == "members")
                changes.append(_change(operation.op, members))
                rest = {k: v for k, v in value.items() if k.lower() != "members"}
                if rest:
                    others.append(Operation(operation.op, None, rest))
            else:
                others.append(operation)
        elif path.attribute.name == "members" and path.urn is None:
            if path.sub is not None:
                raise errors.InvalidPath(f"{path}: change members as a whole, not {path.sub.name}")
            if path.filter is not None and path.checked is not None:
                changes.append(_filtered(operation.op, path.filter, path.checked))
            else:
                changes.append(_change(operation.op, operation.value))
        else:
            others.append(operation)
    return others, changes


def _change(op: str, value: Any) -> Change:
    if op == "remove":
        # Entra lists the members to remove in `value` instead of using a filter.
        return Change("remove", member_ids(value)) if value else Change("clear")
    ids = member_ids(value)
    return Change("add" if op == "add" else "set", ids)


def _filtered(op: str, node: Node, checked: Checked) -> Change:
    if op != "remove":
        raise errors.InvalidPath("members[...] takes remove only; add or replace members by value")
    ids = _value_equalities(node)
    if ids is not None:
        return Change("remove", ids)
    return Change("remove_matching", filter=node, checked=checked)


def _value_equalities(node: Node) -> list[str] | None:
    if (
        isinstance(node, Compare)
        and node.op == "eq"
        and node.path == AttrPath(node.path.attr)
        and node.path.attr.lower() == "value"
        and isinstance(node.value, str)
    ):
        return [node.value]
    if isinstance(node, Or):
        left, right = _value_equalities(node.left), _value_equalities(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def member_ids(value: Any) -> list[str]:
    """The user ids in a `members` value: a list of {"value": id, ...} (or one such object)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    ids = []
    for item in items:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("value"), str)
            or not item["value"]
        ):
            raise errors.InvalidValue('each member must be an object with a string "value"')
        kind = item.get("type")
        if isinstance(kind, str) and kind.lower() == "group":
            raise errors.InvalidValue("groups cannot be members of groups here; members are users")
        ids.append(item["value"])
    return ids


def apply(conn: sqlite3.Connection, group_id: str, change: Change) -> None:
    """Run one membership change on the membership table (inside a write transaction)."""
    if change.kind == "add":
        members.add_members(conn, group_id, change.ids)
    elif change.kind == "remove":
        # Removing a non-member is a no-op rather than noTarget: Okta retries a PATCH whose
        # answer it did not receive, and the retry must not fail.
        members.remove_members(conn, group_id, change.ids)
    elif change.kind == "clear":
        members.clear_members(conn, group_id)
    elif change.kind == "set":
        members.clear_members(conn, group_id)
        members.add_members(conn, group_id, change.ids)
    else:
        assert change.checked is not None
        doomed = [
            m.value
            for m in members.members_of([group_id])[group_id]
            if element_matches(
                change.checked, {"value": m.value, "display": m.display, "type": "User"}
            )
        ]
        if not doomed:
            raise errors.NoTarget(f"no member matches members[{change.filter}]")
        members.remove_members(conn, group_id, doomed)
