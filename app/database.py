"""The database connection of this worker process and its write transaction.

SCIM_DB names a SQLite file (the default) or a PostgreSQL server (`postgresql://...`, see
app/postgres.py, which gives the same functions below on its pool; it is imported only then,
as psycopg is an optional dependency). For SQLite:

One connection per worker, opened after fork on first use. Every write runs inside
`async with database.write() as conn:` (or `write_sync()` in scripts): one `BEGIN IMMEDIATE`
transaction, because a deferred BEGIN that later upgrades to a write fails with "database is
locked" when another worker wrote in between, and SQLite's busy timeout cannot help it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import cast

import sqlite_utils

from app import config, deadline, indexes, metrics, migrations
from app.unavailable import Unavailable

__all__ = ["Unavailable"]

LOCK_WAIT_SECONDS = 5.0  # SQLite's busy timeout: how long a statement waits for a lock
WRITER_HANDOFF_SECONDS = 0.0002  # a pause after a write while this worker has more queued (write())


@dataclass
class _Writers:
    """The flock file that orders writers across workers; the turn that lets one request of
    this worker at a time queue for it; how many of this worker's requests wait for a turn."""

    lock: int
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    queued: int = 0


@dataclass
class _Opened:
    """The open connection, its writers' lock, and the (pid, path) they belong to."""

    database: sqlite_utils.Database
    writers: _Writers
    owner: tuple[int, str]


_opened: _Opened | None = None
_transactions = 0  # write transactions begun by this process (app/events.py: one txn each)
_connections = 0  # connections this process opened (unchanged_stamp)
_LOCK_WAITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-lock")


def open_database(path: str) -> sqlite_utils.Database:
    """A configured connection: WAL, foreign keys, casefold(), migrations applied, and the
    indexes of declared attributes made (app/indexes.py).

    SQLite waits up to LOCK_WAIT_SECONDS for a lock held by another connection (another
    worker migrating the same file, or a writer that is not one of ours).
    """
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=LOCK_WAIT_SECONDS
    )
    database = sqlite_utils.Database(conn)
    database.enable_wal()
    conn.execute(f"PRAGMA synchronous={config.synchronous(config.get().synchronous)}")
    conn.create_function("casefold", 1, _casefold, deterministic=True)
    migrations.apply(database)
    conn.execute("PRAGMA foreign_keys=ON")
    deadline.watch(conn)  # statements past the request's deadline are interrupted (503)
    indexes.ensure(conn)  # declared attributes' indexes and triggers (SCIM_SCHEMAS_DIR)
    return database


def _casefold(value: str | float | None) -> str | float | None:
    return value.casefold() if isinstance(value, str) else value


def _current() -> _Opened:
    global _opened, _connections
    owner = (os.getpid(), config.get().db_path)
    if _opened is None or _opened.owner != owner:
        if _opened is not None and _opened.owner[0] == owner[0]:  # same process, new path
            stale, _opened = _opened, None
            stale.database.conn.close()
            os.close(stale.writers.lock)
        lock = os.open(owner[1] + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        _opened = _Opened(open_database(owner[1]), _Writers(lock), owner)
        _connections += 1
    return _opened


def postgres() -> bool:
    """Whether SCIM_DB names a PostgreSQL server."""
    return config.is_postgres(config.get().db_path)


def db() -> sqlite_utils.Database:
    """This process's SQLite database, opened (and migrated) on first use."""
    if postgres():
        raise RuntimeError("SCIM_DB names PostgreSQL: there is no SQLite database to open")
    return _current().database


def open_now(drop_stale: bool = False) -> None:
    """Open the database now (a server's start): migrations applied, declared indexes made;
    with `drop_stale`, those of attributes no longer declared dropped (app/indexes.py)."""
    if postgres():
        from app import postgres as pg

        with pg.transaction() as conn:
            indexes.reconcile(cast(sqlite3.Connection, conn), drop_stale)
        return
    db()
    indexes.ensure(connection(), drop_stale=drop_stale)


def connection() -> sqlite3.Connection:
    """This process's connection, for reads. With PostgreSQL an autocommit reader on the pool
    (app/postgres.py), which answers the sqlite3 methods the store calls."""
    if postgres():
        from app import postgres as pg

        pg.pool()
        return cast(sqlite3.Connection, pg.open_transaction() or pg.Reader())
    return _current().database.conn


_side: tuple[tuple[int, str], sqlite3.Connection] | None = None


def side_connection() -> sqlite3.Connection:
    """A second connection of this process that never waits for a lock (autocommit): for
    best-effort bookkeeping writes (a token's last use) that must not queue behind a writer."""
    global _side
    if postgres():
        return connection()  # autocommit on the pool: never waits for the writers' lock
    owner = (os.getpid(), config.get().db_path)
    if _side is None or _side[0] != owner:
        _current()  # the file exists and is migrated
        conn = sqlite3.connect(owner[1], isolation_level=None, check_same_thread=False, timeout=0)
        _side = (owner, conn)
    return _side[1]


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
    if postgres():
        async with _postgres_write() as pg_conn:
            yield pg_conn
        return
    opened = _current()
    conn, writers = opened.database.conn, opened.writers
    waiting = time.perf_counter()
    writers.queued += 1
    async with writers.turn:
        writers.queued -= 1
        try:
            fcntl.flock(writers.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await _wait_for(writers.lock)
        metrics.WRITE_LOCK_WAIT.observe(time.perf_counter() - waiting)
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


_pg_turn: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None


@asynccontextmanager
async def _postgres_write() -> AsyncIterator[sqlite3.Connection]:
    """write() on PostgreSQL: one request of this worker at a time BEGINs on a pooled connection
    and takes the writers' advisory lock (app/postgres.py); when another process holds it, the
    wait is in a thread and this worker serves other requests meanwhile, as with SQLite's flock.
    Nothing may be awaited inside the block, as on SQLite."""
    from app import postgres as pg

    global _pg_turn
    loop = asyncio.get_running_loop()
    if _pg_turn is None or _pg_turn[0] is not loop:
        _pg_turn = (loop, asyncio.Lock())
    waiting = time.perf_counter()
    async with _pg_turn[1]:
        with pg.transaction(locked=False) as conn:
            if not conn.try_lock():
                # Shielded: if the request is cancelled, the thread still gets the lock, and
                # the rollback that follows (it waits for the thread) gives it back.
                await asyncio.shield(loop.run_in_executor(_LOCK_WAITER, conn.lock))
            metrics.WRITE_LOCK_WAIT.observe(time.perf_counter() - waiting)
            with _counted():
                yield cast(sqlite3.Connection, conn)


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
    if postgres():
        from app import postgres as pg

        with pg.transaction() as pg_conn, _counted():
            yield cast(sqlite3.Connection, pg_conn)
        return
    conn = connection()
    conn.execute("BEGIN IMMEDIATE")
    with _commit_or_rollback(conn):
        yield conn


def unchanged_stamp(conn: sqlite3.Connection) -> tuple[int, int, int] | None:
    """A value that stays the same while nothing is committed to this SQLite database: by
    another connection (PRAGMA data_version) or by this process's write transactions, on the
    connection opened last. None on PostgreSQL and inside a transaction, whose reads may see
    what a rollback undoes."""
    if conn.in_transaction or postgres():
        return None
    return _connections, conn.execute("PRAGMA data_version").fetchone()[0], _transactions


def transaction_number() -> int:
    """Which write transaction of this process is open (or was last): app/events.py's txn."""
    return _transactions


@contextmanager
def _counted() -> Iterator[None]:
    global _transactions
    _transactions += 1
    yield


@contextmanager
def _commit_or_rollback(conn: sqlite3.Connection) -> Iterator[None]:
    global _transactions
    _transactions += 1
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
