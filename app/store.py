"""The only module that reads or writes rows. One connection per worker process.

Every write runs inside `BEGIN IMMEDIATE` (shared/reference/stack.md §4): a deferred BEGIN
that later upgrades to a write fails with "database is locked" when another worker wrote
in between, and busy_timeout cannot help it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlite_utils

from app import config, deadline, errors, migrations

LOCK_WAIT_SECONDS = 5.0  # SQLite's busy timeout: how long a statement waits for a lock
WRITER_HANDOFF_SECONDS = 0.0002  # a pause after a write while this worker has more queued (write())

_db: sqlite_utils.Database | None = None


@dataclass
class _Writers:
    """The flock file that orders writers across workers; the turn that lets one request of
    this worker at a time queue for it; how many of this worker's requests wait for a turn."""

    lock: int
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    queued: int = 0


_writers: _Writers | None = None
_LOCK_WAITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-lock")
_owner: tuple[int, str] | None = None  # (pid, path) the open connection belongs to


@dataclass(frozen=True)
class Row:
    """One stored resource: its SCIM JSON (without id/meta) and bookkeeping columns."""

    id: str
    resource: dict[str, Any]
    version: int
    created: str
    last_modified: str


@dataclass(frozen=True)
class Member:
    """One member of a group, with the display name read from the user."""

    value: str
    display: str | None


def open_database(path: str) -> sqlite_utils.Database:
    """A configured connection: WAL, foreign keys, migrations applied.

    SQLite waits up to LOCK_WAIT_SECONDS for a lock held by another connection (another
    worker migrating the same file, or a writer that is not one of ours).
    """
    timeout = LOCK_WAIT_SECONDS
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout)
    database = sqlite_utils.Database(conn)
    database.enable_wal()
    conn.execute(f"PRAGMA synchronous={config.synchronous(config.get().synchronous)}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.create_function("casefold", 1, _casefold, deterministic=True)
    deadline.watch(conn)  # statements past the request's deadline are interrupted (503)
    migrations.apply(database)
    return database


def _casefold(value: str | float | None) -> str | float | None:
    return value.casefold() if isinstance(value, str) else value


def db() -> sqlite_utils.Database:
    """This process's connection, opened after fork on first use."""
    global _db, _owner, _writers
    owner = (os.getpid(), config.get().db_path)
    if _db is None or _owner != owner:
        if _db is not None and _owner is not None and _owner[0] == owner[0]:
            _db.conn.close()
        if _writers is not None and _owner is not None and _owner[0] == owner[0]:
            os.close(_writers.lock)
        _db, _owner = open_database(owner[1]), owner
        _writers = _Writers(os.open(owner[1] + ".lock", os.O_RDWR | os.O_CREAT, 0o600))
    return _db


@asynccontextmanager
async def write() -> AsyncIterator[sqlite3.Connection]:
    """A write transaction; everything inside commits together or not at all.

    Workers take turns through an flock on a file beside the database before BEGIN IMMEDIATE:
    the kernel wakes the next writer the moment the lock is released, where SQLite's busy
    handler would sleep and poll (1 ms, 2 ms, 5 ms, ...). A writer that has to wait does so
    in a thread, and this worker serves other requests meanwhile. SQLite's own lock still
    decides; the flock only orders our workers. Nothing may be awaited inside the block: the
    connection is shared by every request of this worker.
    """
    conn = db().conn
    assert _writers is not None
    writers = _writers
    writers.queued += 1
    async with writers.turn:
        writers.queued -= 1
        try:
            fcntl.flock(writers.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await _wait_for(writers.lock)
        try:
            conn.execute("BEGIN IMMEDIATE")
            with _commit_or_rollback(conn):
                yield conn
        finally:
            fcntl.flock(writers.lock, fcntl.LOCK_UN)
        if writers.queued:
            # flock is not fair: let a worker woken by this release take the lock before
            # this worker's next writer grabs it again.
            await asyncio.sleep(WRITER_HANDOFF_SECONDS)


async def _wait_for(lock: int) -> None:
    waiting = asyncio.get_running_loop().run_in_executor(
        _LOCK_WAITER, fcntl.flock, lock, fcntl.LOCK_EX
    )
    try:
        await asyncio.shield(waiting)
    except asyncio.CancelledError:
        # The request was cancelled; the thread still gets the lock, so give it back then.
        waiting.add_done_callback(lambda _: fcntl.flock(lock, fcntl.LOCK_UN))
        raise


@contextmanager
def write_sync() -> Iterator[sqlite3.Connection]:
    """The same transaction for scripts and tests that run no event loop."""
    conn = db().conn
    conn.execute("BEGIN IMMEDIATE")
    with _commit_or_rollback(conn):
        yield conn


@contextmanager
def _commit_or_rollback(conn: sqlite3.Connection) -> Iterator[None]:
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _json(resource: dict[str, Any]) -> str:
    return orjson.dumps(resource).decode()


def now() -> str:
    """The current time as RFC 3339 UTC with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _row(values: Sequence[Any]) -> Row:
    return Row(values[0], orjson.loads(values[1]), values[2], values[3], values[4])


_COLUMNS = "id, resource, version, created, last_modified"
_TABLES = {"User": "users", "Group": "groups"}
_KEYS = {"User": "user_name_key", "Group": "display_name_key"}


# --- reads ---------------------------------------------------------------------------------


def fetch(resource_type: str, resource_id: str) -> Row:
    """One resource by id, or NotFound."""
    table = _TABLES[resource_type]
    found = db().execute(f"SELECT {_COLUMNS} FROM {table} WHERE id = ?", [resource_id]).fetchone()
    if found is None:
        raise errors.NotFound(f"{resource_type} {resource_id} not found")
    return _row(found)


def search(
    resource_type: str,
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
    table = _TABLES[resource_type]
    conn = db().conn
    bound = {**params, "lim": limit, "off": offset}
    if where is None:
        total = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if limit <= 0 or offset >= total:
            return total, []
        if order_by is None:
            sql = (
                f"SELECT {_COLUMNS} FROM {table} WHERE seq >= (SELECT seq FROM {table} INDEXED BY"
                f" ix_{table}_seq ORDER BY seq LIMIT 1 OFFSET :off) ORDER BY seq LIMIT :lim"
            )
        else:
            sql = f"SELECT {_COLUMNS} FROM {table} ORDER BY {order_by} LIMIT :lim OFFSET :off"
        return total, [_row(r) for r in conn.execute(sql, bound)]
    # A filtered query (Okta's lookup) counts its matches in the same statement.
    order = order_by or "seq"
    sql = (
        f"SELECT {_COLUMNS}, count(*) OVER () FROM {table} WHERE {where}"
        f" ORDER BY {order} LIMIT max(:lim, 1) OFFSET :off"
    )
    rows = conn.execute(sql, bound).fetchall()
    if rows:
        return rows[0][-1], [_row(r) for r in rows[:limit]]
    if offset == 0:
        return 0, []
    total = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", dict(params)).fetchone()[0]
    return total, []


def has_more_members(group_id: str, limit: int) -> bool:
    """Whether a group has more than `limit` members, reading at most limit + 1 index entries."""
    sql = "SELECT 1 FROM group_members WHERE group_id = ? LIMIT 1 OFFSET ?"
    return db().execute(sql, [group_id, limit]).fetchone() is not None


def groups_of(user_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """For each user, the (group id, displayName) of the groups it is a direct member of."""
    found: dict[str, list[tuple[str, str]]] = {uid: [] for uid in user_ids}
    if not user_ids:
        return found
    marks = ",".join("?" * len(user_ids))
    sql = (
        "SELECT m.user_id, g.id, json_extract(g.resource, '$.displayName') FROM group_members m"
        f" JOIN groups g ON g.id = m.group_id WHERE m.user_id IN ({marks}) ORDER BY g.seq"
    )
    for user_id, group_id, display in db().execute(sql, list(user_ids)):
        found[user_id].append((group_id, display))
    return found


def members_of(group_ids: Sequence[str]) -> dict[str, list[Member]]:
    """For each group, its members (in user creation order) with their display names."""
    found: dict[str, list[Member]] = {gid: [] for gid in group_ids}
    if not group_ids:
        return found
    marks = ",".join("?" * len(group_ids))
    sql = (
        "SELECT m.group_id, u.id, coalesce(json_extract(u.resource, '$.displayName'),"
        " json_extract(u.resource, '$.userName')) FROM group_members m"
        f" JOIN users u ON u.id = m.user_id WHERE m.group_id IN ({marks}) ORDER BY u.seq"
    )
    for group_id, user_id, display in db().execute(sql, list(group_ids)):
        found[group_id].append(Member(user_id, display))
    return found


# --- writes (call inside `with write():`) ----------------------------------------------------


def insert(
    conn: sqlite3.Connection,
    resource_type: str,
    resource_id: str,
    resource: dict[str, Any],
    key: str,
    password_hash: str | None = None,
) -> Row:
    """Store a new resource; a taken unique key (userName) raises Uniqueness."""
    stamp = now()
    table, key_column = _TABLES[resource_type], _KEYS[resource_type]
    columns: dict[str, str | None] = {
        "id": resource_id,
        "resource": _json(resource),
        key_column: key,
        "created": stamp,
        "last_modified": stamp,
    }
    if resource_type == "User":
        columns["password_hash"] = password_hash
    names = ", ".join(columns)
    marks = ", ".join(f":{name}" for name in columns)
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks}) RETURNING {_COLUMNS}"
    try:
        row = _row(conn.execute(sql, columns).fetchone())
    except sqlite3.IntegrityError as exc:
        raise _conflict(resource_type, resource) from exc
    if resource_type == "User":
        _index_emails(conn, resource_id, resource)
    return row


def update(
    conn: sqlite3.Connection,
    resource_type: str,
    resource_id: str,
    resource: dict[str, Any],
    key: str,
    password_hash: str | None = None,
) -> Row:
    """Overwrite a resource and bump its version; password_hash None keeps the stored one."""
    table, key_column = _TABLES[resource_type], _KEYS[resource_type]
    sql = (
        f"UPDATE {table} SET resource = :resource, {key_column} = :key, version = version + 1,"
        " last_modified = :now"
    )
    if password_hash is not None:
        sql += ", password_hash = :password_hash"
    params = {
        "resource": _json(resource),
        "key": key,
        "now": now(),
        "id": resource_id,
        "password_hash": password_hash,
    }
    try:
        found = conn.execute(sql + f" WHERE id = :id RETURNING {_COLUMNS}", params).fetchone()
    except sqlite3.IntegrityError as exc:
        raise _conflict(resource_type, resource) from exc
    if found is None:
        raise errors.NotFound(f"{resource_type} {resource_id} not found")
    if resource_type == "User":
        _index_emails(conn, resource_id, resource)
    return _row(found)


def _index_emails(conn: sqlite3.Connection, user_id: str, resource: dict[str, Any]) -> None:
    conn.execute("DELETE FROM user_emails WHERE user_id = ?", [user_id])
    values = {
        e["value"].casefold()
        for e in resource.get("emails", [])
        if isinstance(e, dict) and isinstance(e.get("value"), str)
    }
    conn.executemany(
        "INSERT INTO user_emails (value_key, user_id) VALUES (?, ?)",
        [(value, user_id) for value in values],
    )


def touch(conn: sqlite3.Connection, resource_type: str, resource_id: str) -> Row:
    """Bump version and lastModified (a membership change is a change of the group)."""
    table = _TABLES[resource_type]
    found = conn.execute(
        f"UPDATE {table} SET version = version + 1, last_modified = ? WHERE id = ?"
        f" RETURNING {_COLUMNS}",
        [now(), resource_id],
    ).fetchone()
    if found is None:
        raise errors.NotFound(f"{resource_type} {resource_id} not found")
    return _row(found)


def delete(conn: sqlite3.Connection, resource_type: str, resource_id: str) -> None:
    """Remove a resource; its memberships go with it (ON DELETE CASCADE)."""
    table = _TABLES[resource_type]
    if resource_type == "User":  # its groups lose a member: that changes their version
        conn.execute(
            "UPDATE groups SET version = version + 1, last_modified = ? WHERE id IN"
            " (SELECT group_id FROM group_members WHERE user_id = ?)",
            [now(), resource_id],
        )
    if conn.execute(f"DELETE FROM {table} WHERE id = ?", [resource_id]).rowcount == 0:
        raise errors.NotFound(f"{resource_type} {resource_id} not found")


def add_members(conn: sqlite3.Connection, group_id: str, user_ids: Iterable[str]) -> None:
    """Add users to a group; already-present members are left as they are."""
    wanted = list(dict.fromkeys(user_ids))
    _require_users(conn, wanted)
    conn.executemany(
        "INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?, ?)",
        [(group_id, uid) for uid in wanted],
    )


def remove_members(conn: sqlite3.Connection, group_id: str, user_ids: Iterable[str]) -> int:
    """Remove these users from a group; returns how many were members."""
    cursor = conn.executemany(
        "DELETE FROM group_members WHERE group_id = ? AND user_id = ?",
        [(group_id, uid) for uid in dict.fromkeys(user_ids)],
    )
    return cursor.rowcount


def clear_members(conn: sqlite3.Connection, group_id: str) -> None:
    """Empty a group."""
    conn.execute("DELETE FROM group_members WHERE group_id = ?", [group_id])


def _require_users(conn: sqlite3.Connection, user_ids: list[str]) -> None:
    missing = set(user_ids)
    for start in range(0, len(user_ids), 500):
        chunk = user_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for (found,) in conn.execute(f"SELECT id FROM users WHERE id IN ({marks})", chunk):
            missing.discard(found)
    if missing:
        names = ", ".join(sorted(missing)[:5])
        raise errors.InvalidValue(f"members must be existing users; unknown: {names}")


def _conflict(resource_type: str, resource: dict[str, Any]) -> errors.ScimError:
    if resource_type == "User":
        return errors.Uniqueness(f"userName {resource.get('userName')!r} is already taken")
    return errors.Uniqueness(f"displayName {resource.get('displayName')!r} is already taken")
