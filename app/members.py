"""The membership table's rows: which users are members of which groups.

Members live in their own table rather than in the group's JSON, so adding a member to a
100,000-member group costs the same as adding one to an empty group. Like app/store.py, this
reads table and column names from app/tables.py and binds every value; writes take the
connection of an open `database.write()` transaction. Rows of the membership table belong to
the tenant of their group: writes check the group is the current tenant's, and members must be
that tenant's users.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from app import dialect, errors, tables, tenancy
from app.database import connection
from app.tables import GROUPS, MEMBERS_TABLE, USERS, Membership, Table


@dataclass(frozen=True)
class Member:
    """One member of a group, with the display name read from the user."""

    value: str
    display: str | None


def has_more_members(group_id: str, limit: int) -> bool:
    """Whether a group has more than `limit` members, reading at most limit + 1 index entries."""
    own = tables.GROUP_MEMBERS.own
    sql = f"SELECT 1 FROM {MEMBERS_TABLE} WHERE {own} = ? LIMIT 1 OFFSET ?"
    return connection().execute(sql, [group_id, limit]).fetchone() is not None


def groups_of(user_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """For each user, the (group id, displayName) of the groups it is a direct member of, in
    the groups' creation order.

    For several users, two statements: the memberships from the user side's covering index,
    then each group named once. Users share their groups (a page of 100 users is a few hundred
    memberships of a few groups): a join would look up the group and read its displayName
    from its JSON for every membership."""
    if len(user_ids) <= 1:  # one statement serves one user best
        display = _text("o", "displayName")
        return _across(tables.USER_GROUPS, GROUPS, display, user_ids)
    found: dict[str, list[tuple[str, str]]] = {i: [] for i in user_ids}
    side = tables.USER_GROUPS
    conn = connection()
    sql = (
        f"SELECT {side.own}, {side.other} FROM {MEMBERS_TABLE}"
        f" WHERE {side.own} IN ({','.join('?' * len(user_ids))})"
    )
    memberships = conn.execute(sql, list(user_ids)).fetchall()
    if not memberships:
        return found
    group_ids = list({group_id for _, group_id in memberships})
    sql = (
        f"SELECT id, seq, {_text('g', 'displayName')} FROM {GROUPS.name} g"
        f" WHERE g.{GROUPS.tenant} = ? AND g.id IN ({','.join('?' * len(group_ids))})"
    )
    groups = {
        gid: (seq, name) for gid, seq, name in conn.execute(sql, [tenancy.name(), *group_ids])
    }
    for user_id, group_id in sorted(
        (m for m in memberships if m[1] in groups), key=lambda m: groups[m[1]][0]
    ):
        found[user_id].append((group_id, groups[group_id][1]))
    return found


def members_of(group_ids: Sequence[str]) -> dict[str, list[Member]]:
    """For each group, its members (in user creation order) with their display names."""
    display = f"coalesce({_text('o', 'displayName')}, {_text('o', 'userName')})"
    found = _across(tables.GROUP_MEMBERS, USERS, display, group_ids)
    return {gid: [Member(*pair) for pair in pairs] for gid, pairs in found.items()}


def count() -> int:
    """How many memberships there are, across all groups (the console's overview)."""
    return int(connection().execute(f"SELECT count(*) FROM {MEMBERS_TABLE}").fetchone()[0])


def page_of(group_id: str, limit: int, offset: int) -> tuple[int, list[Member]]:
    """A group's member count and one page of its members, ordered by user id: the primary
    key's own order, so a page of a 100,000-member group sorts nothing (the console pages big
    groups; members_of reads them all)."""
    side = tables.GROUP_MEMBERS
    conn = connection()
    sql = f"SELECT count(*) FROM {MEMBERS_TABLE} WHERE {side.own} = ?"
    total = int(conn.execute(sql, [group_id]).fetchone()[0])
    name = f"{_text('u', 'displayName')}, {_text('u', 'userName')}"
    sql = (
        f"SELECT u.id, coalesce({name}) FROM {MEMBERS_TABLE} m JOIN {USERS.name} u"
        f" ON u.id = m.{side.other} WHERE m.{side.own} = ? ORDER BY m.{side.other} LIMIT ? OFFSET ?"
    )
    rows = conn.execute(sql, [group_id, limit, offset])
    return total, [Member(value, display) for value, display in rows]


def _text(alias: str, attribute: str) -> str:
    """A top-level text attribute of the resource of the row `alias`."""
    sql = dialect.current()
    return sql.scalar(f"{alias}.resource", sql.path_literal([attribute]), "text")


def _across(
    side: Membership, other: Table, display: str, ids: Sequence[str]
) -> dict[str, list[tuple[str, Any]]]:
    """For each id, the (id, display) of the resources on the other side of the membership
    table, in their creation order."""
    found: dict[str, list[tuple[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return found
    marks = ",".join("?" * len(ids))
    # CROSS JOIN keeps the membership table the outer loop in SQLite: its index on `own` finds
    # the few rows of these ids. Left to itself, the planner walks the other table in seq order
    # to spare the sort and probes every id for every row of it (each group x 100 users for a
    # page). PostgreSQL plans a CROSS JOIN with its WHERE like the inner join it is.
    sql = (
        f"SELECT m.{side.own}, o.id, {display} FROM {MEMBERS_TABLE} m CROSS JOIN {other.name} o"
        f" WHERE o.id = m.{side.other} AND o.{other.tenant} = ? AND m.{side.own} IN ({marks})"
        " ORDER BY o.seq"
    )
    for own, other_id, name in connection().execute(sql, [tenancy.name(), *ids]):
        found[own].append((other_id, name))
    return found


# The membership writes below expect the group's row written first in the same transaction
# (store.insert, update or touch, which raise NotFound for a group not of this tenant).


def add_members(conn: sqlite3.Connection, group_id: str, user_ids: Iterable[str]) -> None:
    """Add users to a group; already-present members are left as they are."""
    side = tables.GROUP_MEMBERS
    wanted = list(dict.fromkeys(user_ids))
    _require_users(conn, wanted)
    conn.executemany(
        f"INSERT INTO {MEMBERS_TABLE} ({side.own}, {side.other}) VALUES (?, ?)"
        " ON CONFLICT DO NOTHING",
        [(group_id, uid) for uid in wanted],
    )


def remove_members(conn: sqlite3.Connection, group_id: str, user_ids: Iterable[str]) -> int:
    """Remove these users from a group; returns how many were members."""
    side = tables.GROUP_MEMBERS
    cursor = conn.executemany(
        f"DELETE FROM {MEMBERS_TABLE} WHERE {side.own} = ? AND {side.other} = ?",
        [(group_id, uid) for uid in dict.fromkeys(user_ids)],
    )
    return cursor.rowcount


def clear_members(conn: sqlite3.Connection, group_id: str) -> None:
    """Empty a group."""
    conn.execute(f"DELETE FROM {MEMBERS_TABLE} WHERE {tables.GROUP_MEMBERS.own} = ?", [group_id])


def _require_users(conn: sqlite3.Connection, user_ids: list[str]) -> None:
    missing = set(user_ids)
    scope = f"{USERS.tenant} = ?"
    for start in range(0, len(user_ids), 500):
        chunk = user_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT id FROM {USERS.name} WHERE {scope} AND id IN ({marks})"
        for (found,) in conn.execute(sql, [tenancy.name(), *chunk]):
            missing.discard(found)
    if missing:
        names = ", ".join(sorted(missing)[:5])
        raise errors.InvalidValue(f"members must be existing users; unknown: {names}")
