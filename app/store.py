"""The only module that reads or writes rows: resources, their side tables and memberships.

Table and column names come from app/tables.py; values are always bound parameters. Every
statement is scoped by the request's tenant (app/tenancy.py): a row of another tenant is not
found, not counted, not changed. Writes
take the connection of an open `database.write()` transaction. A write that names the version
it expects (the request's If-Match) checks it in the statement itself, so a stale version is
`PreconditionFailed` without a read before the write.
"""

from __future__ import annotations

import sqlite3
import time
from array import array
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson

from app import access_log, config, database, dialect, errors, indexes, tables, tenancy
from app.database import connection
from app.resources import USER, ResourceType
from app.tables import GROUPS, MEMBERS_TABLE

_COLUMNS = ", ".join(tables.ROW_COLUMNS)
# The versions a write may find: None means any (no If-Match, or `*`).
Expected = Collection[int] | None


@dataclass(frozen=True)
class Row:
    """One stored resource: its SCIM JSON (without id/meta) as stored, and bookkeeping columns."""

    id: str
    stored: str  # the JSON text of `resource`
    version: int
    created: str
    last_modified: str

    @cached_property
    def resource(self) -> dict[str, Any]:
        """The stored JSON, parsed on first use: a page spliced from the text never needs it
        (app/rendering.py)."""
        parsed: dict[str, Any] = orjson.loads(self.stored)
        return parsed


def now() -> str:
    """The current time as RFC 3339 UTC with milliseconds."""
    return access_log.timestamp(time.time())


def _row(values: Sequence[Any]) -> Row:
    return Row(values[0], values[1], values[2], values[3], values[4])


def _json(resource: dict[str, Any]) -> str:
    return orjson.dumps(resource).decode()


def _missing(resource_type: ResourceType, resource_id: str) -> errors.NotFound:
    return errors.NotFound(f"{resource_type.name} {resource_id} not found")


# --- reads ---------------------------------------------------------------------------------


def fetch(resource_type: ResourceType, resource_id: str) -> Row:
    """One resource by id, or NotFound."""
    found = _by_id(connection(), resource_type, _COLUMNS, resource_id)
    if found is None:
        raise _missing(resource_type, resource_id)
    return _row(found)


def _by_id(
    conn: sqlite3.Connection, resource_type: ResourceType, columns: str, resource_id: str
) -> Any:
    """`columns` of the current tenant's resource with this id (None if there is none)."""
    table = resource_type.table
    sql = f"SELECT {columns} FROM {table.name} WHERE {table.tenant} = ? AND id = ?"
    return conn.execute(sql, [tenancy.name(), resource_id]).fetchone()


def attribute_of(resource_type: ResourceType, resource_id: str, name: str) -> Any:
    """One top-level attribute of a stored resource, read without parsing the rest of it;
    None when it is absent or there is no such resource."""
    table = resource_type.table
    sql = f"SELECT resource -> ? FROM {table.name} WHERE {table.tenant} = ? AND id = ?"
    key = dialect.current().attribute_key(name)
    found = connection().execute(sql, [key, tenancy.name(), resource_id]).fetchone()
    return None if found is None or found[0] is None else orjson.loads(found[0])


def exists(resource_type: ResourceType, resource_id: str) -> bool:
    """Whether a resource with this id exists."""
    return _by_id(connection(), resource_type, "1", resource_id) is not None


def search(
    resource_type: ResourceType,
    where: str | None,
    params: Mapping[str, Any],
    order_by: str | None,
    limit: int,
    offset: int,
) -> tuple[int, list[Row]]:
    """The number of matches and one page of them; `where`/`order_by` come from app.query.

    None means no filter / creation order. Okta's import walks every page in creation order,
    so that case avoids work proportional to the table: `count(*)` without a WHERE clause is
    answered from the b-tree, and the page starts at the `seq` found by skipping `offset`
    entries of the narrow seq index instead of whole rows.
    """
    table = resource_type.table
    name = table.name
    conn = connection()
    scope = f"{name}.{table.tenant} = :tenant"
    bound = {**params, "lim": limit, "off": offset, "tenant": tenancy.name()}
    hint = dialect.current().indexed_by(table.seq_index)
    if where is None:
        # What a tenant's unfiltered pages keep while the database is unchanged (_count, _seq_at).
        stamp = database.unchanged_stamp(conn)
        key = (config.get().db_path, bound["tenant"], name)
        total = _count(conn, name, scope, bound, stamp, key)
        if limit <= 0 or offset >= total:
            return total, []
        if order_by is None:
            first = _seq_at(conn, name, scope, hint, bound, offset, stamp, key)
            if first is not None:
                sql = f"SELECT {_COLUMNS} FROM {name} WHERE {scope} AND seq >= :first"
                bound["first"] = first
            else:
                sql = (
                    f"SELECT {_COLUMNS} FROM {name} WHERE {scope} AND seq >= (SELECT seq"
                    f" FROM {name}{hint} WHERE {scope} ORDER BY seq LIMIT 1 OFFSET :off)"
                )
            sql += " ORDER BY seq LIMIT :lim"
        else:
            sql = (
                f"SELECT {_COLUMNS} FROM {name} WHERE {scope}"
                f" ORDER BY {order_by} LIMIT :lim OFFSET :off"
            )
        return total, [_row(r) for r in conn.execute(sql, bound)]
    # A filtered query (Okta's lookup) counts its matches in the same statement.
    order = order_by or "seq"
    sql = (
        f"SELECT {_COLUMNS}, count(*) OVER () FROM {name} WHERE {scope} AND ({where})"
        f" ORDER BY {order} LIMIT :lim1 OFFSET :off"
    )
    bound["lim1"] = max(limit, 1)
    rows = conn.execute(sql, bound).fetchall()
    if rows:
        return rows[0][-1], [_row(r) for r in rows[:limit]]
    if offset == 0:
        return 0, []
    counted = f"SELECT count(*) FROM {name} WHERE {scope} AND ({where})"
    return conn.execute(counted, bound).fetchone()[0], []


_counts: dict[tuple[str, str, str], tuple[tuple[int, int, int], int]] = {}

# A tenant's `seq` values in order, by (database, tenant, table), with the stamp they were read
# at; and the stamp of the last page that had to walk the index (_seq_at).
_seqs: dict[tuple[str, str, str], tuple[tuple[int, int, int], array[int]]] = {}
_walked: dict[tuple[str, str, str], tuple[int, int, int]] = {}


def _seq_at(
    conn: sqlite3.Connection,
    name: str,
    scope: str,
    hint: str,
    bound: Mapping[str, Any],
    offset: int,
    stamp: tuple[int, int, int] | None,
    key: tuple[str, str, str],
) -> int | None:
    """The `seq` of a tenant's row at `offset` in creation order, while the database has not
    changed since the tenant's `seq` values were read; else None (the page's own statement
    walks the index to it: about 25 µs per 1,000 rows skipped).

    An import pages through every user in creation order while little else is written: the
    second page that finds the database unchanged since the first reads the tenant's `seq`
    values (8 bytes each), and the pages after it start where they begin at once. Writes in
    between make each page walk, as before, and read nothing more. `stamp` and `key` as for
    _count."""
    if stamp is None:
        return None
    kept = _seqs.get(key)
    if kept is None or kept[0] != stamp:
        if _walked.get(key) != stamp:
            _walked[key] = stamp
            return None
        sql = f"SELECT seq FROM {name}{hint} WHERE {scope} ORDER BY seq"
        kept = _seqs[key] = (stamp, array("q", (r[0] for r in conn.execute(sql, bound))))
    return kept[1][offset] if offset < len(kept[1]) else None


def _count(
    conn: sqlite3.Connection,
    name: str,
    scope: str,
    bound: Mapping[str, Any],
    stamp: tuple[int, int, int] | None,
    key: tuple[str, str, str],
) -> int:
    """A tenant's number of rows in `name`. SQLite counts them by walking its index (about
    30 µs per 1,000 rows), so the answer is kept until the database next changes: `stamp` is
    database.unchanged_stamp (None: keep nothing), `key` (database, tenant, table). An import
    walking every page counts once."""
    kept = _counts.get(key) if stamp is not None else None
    if kept is not None and kept[0] == stamp:
        return kept[1]
    total = int(conn.execute(f"SELECT count(*) FROM {name} WHERE {scope}", bound).fetchone()[0])
    if stamp is not None:
        _counts[key] = (stamp, total)
    return total


# --- writes (call inside `with database.write() as conn:`) -----------------------------------


def insert(
    conn: sqlite3.Connection,
    resource_type: ResourceType,
    resource_id: str,
    resource: dict[str, Any],
    password_hash: str | None = None,
) -> Row:
    """Store a new resource; a taken unique key (userName) raises Uniqueness."""
    table = resource_type.table
    stamp = now()
    columns: dict[str, str | None] = {
        table.tenant: tenancy.name(),
        "id": resource_id,
        "resource": _json(resource),
        table.key.name: tables.key_of(table, resource),
        "created": stamp,
        "last_modified": stamp,
    }
    if table.password is not None:
        columns[table.password] = password_hash
    names = ", ".join(columns)
    marks = ", ".join(f":{name}" for name in columns)
    sql = f"INSERT INTO {table.name} ({names}) VALUES ({marks}) RETURNING {_COLUMNS}"
    try:
        row = _row(conn.execute(sql, columns).fetchone())
    except sqlite3.IntegrityError as exc:
        raise _conflict(resource_type, resource, exc) from exc
    _index_values(conn, resource_type, resource_id, resource, new=True)
    return row


def update(
    conn: sqlite3.Connection,
    resource_type: ResourceType,
    resource_id: str,
    resource: dict[str, Any],
    expected: Expected = None,
    password_hash: str | None = None,
    previous: dict[str, Any] | None = None,
) -> Row:
    """Overwrite a resource and bump its version; password_hash None keeps the stored one.
    `previous`: the resource as stored before, when the caller has read it (a PATCH)."""
    table = resource_type.table
    params: dict[str, Any] = {
        "resource": _json(resource),
        "key": tables.key_of(table, resource),
        "now": now(),
        "id": resource_id,
    }
    sets = f"resource = :resource, {table.key.name} = :key"
    if password_hash is not None and table.password is not None:
        sets += f", {table.password} = :password_hash"
        params["password_hash"] = password_hash
    try:
        row = _bump(conn, resource_type, resource_id, expected, sets, params)
    except sqlite3.IntegrityError as exc:
        raise _conflict(resource_type, resource, exc) from exc
    _index_values(conn, resource_type, resource_id, resource, previous=previous)
    return row


def touch(
    conn: sqlite3.Connection, resource_type: ResourceType, resource_id: str, expected: Expected
) -> Row:
    """Bump version and lastModified (a membership change is a change of the group)."""
    return _bump(conn, resource_type, resource_id, expected, "", {"id": resource_id, "now": now()})


def _bump(
    conn: sqlite3.Connection,
    resource_type: ResourceType,
    resource_id: str,
    expected: Expected,
    sets: str,
    params: dict[str, Any],
) -> Row:
    changes = f"{sets}, " if sets else ""
    sql = (
        f"UPDATE {resource_type.table.name} SET {changes}version = version + 1,"
        f" last_modified = :now WHERE {resource_type.table.tenant} = :tenant AND id = :id"
        f"{_version_condition(expected, params)} RETURNING {_COLUMNS}"
    )
    found = conn.execute(sql, {**params, "tenant": tenancy.name()}).fetchone()
    if found is None:
        raise _why_unchanged(conn, resource_type, resource_id, expected)
    return _row(found)


@dataclass(frozen=True)
class Deleted:
    """What a delete removed: the resource's externalId and, for a user, the groups it left
    as (id, new version, externalId)."""

    id: str
    external_id: str | None
    groups: list[tuple[str, int, str | None]]


def delete(
    conn: sqlite3.Connection, resource_type: ResourceType, resource_id: str, expected: Expected
) -> Deleted:
    """Remove a resource; its memberships and indexed values go with it (ON DELETE CASCADE)."""
    groups = []
    if resource_type is USER:  # its groups lose a member: that changes their version
        side = tables.USER_GROUPS
        groups = conn.execute(
            f"UPDATE {GROUPS.name} SET version = version + 1, last_modified = ? WHERE"
            f" {GROUPS.tenant} = ? AND id IN"
            f" (SELECT {side.other} FROM {MEMBERS_TABLE} WHERE {side.own} = ?)"
            " RETURNING id, version, external_id",
            [now(), tenancy.name(), resource_id],
        ).fetchall()
    params: dict[str, Any] = {"id": resource_id, "tenant": tenancy.name()}
    condition = _version_condition(expected, params)
    sql = (
        f"DELETE FROM {resource_type.table.name}"
        f" WHERE {resource_type.table.tenant} = :tenant AND id = :id{condition}"
        " RETURNING external_id"
    )
    found = conn.execute(sql, params).fetchone()
    if found is None:
        raise _why_unchanged(conn, resource_type, resource_id, expected)
    return Deleted(resource_id, found[0], [(g[0], g[1], g[2]) for g in groups])


def _version_condition(expected: Expected, params: dict[str, Any]) -> str:
    """` AND version IN (...)` for an If-Match, binding the versions into params."""
    if expected is None:
        return ""
    names = []
    for n, version in enumerate(sorted(expected)):
        params[f"v{n}"] = version
        names.append(f":v{n}")
    return f" AND version IN ({', '.join(names)})" if names else f" AND {dialect.current().false}"


def _why_unchanged(
    conn: sqlite3.Connection, resource_type: ResourceType, resource_id: str, expected: Expected
) -> errors.ScimError:
    """NotFound, or PreconditionFailed when the row exists at a version not expected."""
    found = _by_id(conn, resource_type, "version", resource_id)
    if found is None:
        return _missing(resource_type, resource_id)
    wanted = ", ".join(f'W/"{v}"' for v in sorted(expected or ())) or "no version"
    return errors.PreconditionFailed(
        f'If-Match {wanted} does not match the current version W/"{found[0]}"'
    )


def _index_values(
    conn: sqlite3.Connection,
    resource_type: ResourceType,
    owner: str,
    resource: dict[str, Any],
    new: bool = False,
    previous: dict[str, Any] | None = None,
) -> None:
    """Rewrite the side tables that index this resource's values (a user's emails) where they
    changed: most updates (a deactivation, a new name) leave them as they were, and reading
    them (or comparing them with `previous`, the resource as stored before) costs less than
    writing them again."""
    table = resource_type.table
    for name in table.kept_values:
        index = table.value_indexes[name]
        attribute = resource_type.attributes[name].name
        if previous is not None and previous.get(attribute) == resource.get(attribute):
            continue
        values = {
            item["value"].casefold() if index.folded else item["value"]
            for item in resource.get(attribute, [])
            if isinstance(item, dict) and isinstance(item.get("value"), str)
        }
        if not new:
            sql = f"SELECT {index.value} FROM {index.table} WHERE {index.owner} = ?"
            if {row[0] for row in conn.execute(sql, [owner])} == values:
                continue
            conn.execute(f"DELETE FROM {index.table} WHERE {index.owner} = ?", [owner])
        conn.executemany(
            f"INSERT INTO {index.table} ({index.value}, {index.owner}) VALUES (?, ?)",
            [(value, owner) for value in values],
        )


def _conflict(
    resource_type: ResourceType, resource: dict[str, Any], exc: sqlite3.IntegrityError
) -> errors.ScimError:
    declared = indexes.violation(resource, exc)  # a declared attribute's (app/indexes.py)
    if declared is not None:
        return declared
    name = resource_type.table.key_attribute
    return errors.Uniqueness(f"{name} {resource.get(name)!r} is already taken")
