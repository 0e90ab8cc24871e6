"""The membership table's rows: which users are members of which groups.

Members live in their own table rather than in the group's JSON, so adding a member to a
100,000-member group costs the same as adding one to an empty group. Like app/store.py, this
reads table and column names from app/tables.py and binds every value; writes take the
connection of an open `database.write()` transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app import errors, tables
from app.database import connection
from app.tables import GROUPS, MEMBERS_TABLE, USERS


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
    """For each user, the (group id, displayName) of the groups it is a direct member of."""
    found: dict[str, list[tuple[str, str]]] = {uid: [] for uid in user_ids}
    if not user_ids:
        return found
    side = tables.USER_GROUPS
    marks = ",".join("?" * len(user_ids))
    sql = (
        f"SELECT m.{side.own}, g.id, json_extract(g.resource, '$.displayName')"
        f" FROM {MEMBERS_TABLE} m JOIN {GROUPS.name} g ON g.id = m.{side.other}"
        f" WHERE m.{side.own} IN ({marks}) ORDER BY g.seq"
    )
    for user_id, group_id, display in connection().execute(sql, list(user_ids)):
        found[user_id].append((group_id, display))
    return found


def members_of(group_ids: Sequence[str]) -> dict[str, list[Member]]:
    """For each group, its members (in user creation order) with their display names."""
    found: dict[str, list[Member]] = {gid: [] for gid in group_ids}
    if not group_ids:
        return found
    side = tables.GROUP_MEMBERS
    marks = ",".join("?" * len(group_ids))
    sql = (
        f"SELECT m.{side.own}, u.id, coalesce(json_extract(u.resource, '$.displayName'),"
        f" json_extract(u.resource, '$.userName')) FROM {MEMBERS_TABLE} m"
        f" JOIN {USERS.name} u ON u.id = m.{side.other} WHERE m.{side.own} IN ({marks})"
        " ORDER BY u.seq"
    )
    for group_id, user_id, display in connection().execute(sql, list(group_ids)):
        found[group_id].append(Member(user_id, display))
    return found


def add_members(conn: sqlite3.Connection, group_id: str, user_ids: Iterable[str]) -> None:
    """Add users to a group; already-present members are left as they are."""
    side = tables.GROUP_MEMBERS
    wanted = list(dict.fromkeys(user_ids))
    _require_users(conn, wanted)
    conn.executemany(
        f"INSERT OR IGNORE INTO {MEMBERS_TABLE} ({side.own}, {side.other}) VALUES (?, ?)",
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
    for start in range(0, len(user_ids), 500):
        chunk = user_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for (found,) in conn.execute(f"SELECT id FROM {USERS.name} WHERE id IN ({marks})", chunk):
            missing.discard(found)
    if missing:
        names = ", ".join(sorted(missing)[:5])
        raise errors.InvalidValue(f"members must be existing users; unknown: {names}")
