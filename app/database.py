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
from collections import deque
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import sqlite_utils

from app import config, deadline, indexes, metrics, migrations
from app.unavailable import Unavailable

__all__ = ["Unavailable"]

LOCK_WAIT_SECONDS = 5.0  # SQLite's busy timeout: how long a statement waits for a lock
WRITER_HANDOFF_SECONDS = 0.0002  # a pause after a write while this worker has more queued (write())


MAX_BATCH = 64  # requests of one worker that share a write transaction (write())


@dataclass
class _Writers:
    """The flock file that orders writers across workers; the loop of the request of this
    worker that has the turn (None: nobody) and the requests waiting for it, in order."""

    lock: int
    busy: asyncio.AbstractEventLoop | None = None
    waiting: deque[asyncio.Future[Any]] = field(default_factory=deque)


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
    _enable_wal(database)
    conn.execute(f"PRAGMA synchronous={config.synchronous(config.get().synchronous)}")
    conn.create_function("casefold", 1, _casefold, deterministic=True)
    migrations.apply(database)
    conn.execute("PRAGMA foreign_keys=ON")
    deadline.watch(conn)  # statements past the request's deadline are interrupted (503)
    indexes.ensure(conn)  # declared attributes' indexes and triggers (SCIM_SCHEMAS_DIR)
    return database


def _enable_wal(database: sqlite_utils.Database) -> None:
    """Put the file in WAL mode. Workers that open a new file at the same moment race to
    switch it: SQLite answers the loser "database is locked" at once, without waiting the busy
    timeout (seen as a worker failing to boot). It asks again, for up to LOCK_WAIT_SECONDS,
    and then finds the file in WAL mode already."""
    give_up = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            database.enable_wal()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > give_up:
                raise
            time.sleep(0.01)


def _casefold(value: str | float | None) -> str | float | None:
    return value.casefold() if isinstance(value, str) else value


_pid = os.getpid()  # this process's: a system call each time os.getpid() is asked


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def _current() -> _Opened:
    global _opened, _connections
    owner = (_pid, config.get().db_path)
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
    owner = (_pid, config.get().db_path)
    if _side is None or _side[0] != owner:
        _current()  # the file exists and is migrated
        conn = sqlite3.connect(owner[1], isolation_level=None, check_same_thread=False, timeout=0)
        _side = (owner, conn)
    return _side[1]


@asynccontextmanager
async def write() -> AsyncIterator[sqlite3.Connection]:
    """A write transaction; everything inside commits together or not at all, and the block
    returns only once it is committed.

    Workers take turns through an flock on a file beside the database before BEGIN IMMEDIATE:
    the kernel wakes the next writer the moment the lock is released, where SQLite's busy
    handler would sleep and poll (1 ms, 2 ms, 5 ms, ...). A writer that has to wait does so
    in a thread, and this worker serves other requests meanwhile. SQLite's own lock still
    decides; the flock only orders our workers. Nothing may be awaited inside the block: the
    connection is shared by every request of this worker.

    Group commit: the requests of this worker that queued while one held the turn run their
    blocks inside its transaction, each in a savepoint of its own (a block that fails undoes
    only itself), and one COMMIT (one fsync) answers them all (_Batch).
    """
    if postgres():
        async with _postgres_write() as pg_conn:
            yield pg_conn
        return
    opened = _current()
    conn, writers = opened.database.conn, opened.writers
    waiting = time.perf_counter()
    joined = await _turn(writers)
    if joined is not None:  # a transaction of this worker is open: this block runs in it
        metrics.WRITE_LOCK_WAIT.observe(time.perf_counter() - waiting)
        try:
            with _member(conn, joined):
                yield conn
        finally:
            joined.leave()
        await joined.committed
        return
    failed: BaseException | None = None
    batch: _Batch | None = None
    cancelled = False
    try:
        try:
            fcntl.flock(writers.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await _wait_for(writers.lock)
        metrics.WRITE_LOCK_WAIT.observe(time.perf_counter() - waiting)
        try:
            conn.execute("BEGIN IMMEDIATE")
            if not writers.waiting:  # nobody to share it with (none can come before it ends)
                metrics.WRITE_BATCH.observe(1)
                with _commit_or_rollback(conn):
                    yield conn
            else:
                batch = _Batch(asyncio.get_running_loop().create_future())
                try:
                    with _member(conn, batch):
                        yield conn
                except BaseException as exc:
                    failed = exc
                cancelled = await _gather(writers, batch)
                _end(conn, batch)
        finally:
            fcntl.flock(writers.lock, fcntl.LOCK_UN)
        if writers.waiting:
            # flock is not fair: let a worker woken by this release take the lock before
            # this worker's next writer grabs it again.
            await asyncio.sleep(WRITER_HANDOFF_SECONDS)
    finally:
        _pass_turn(writers)
    if batch is not None:
        lost = batch.committed.exception()  # retrieved here, so asyncio never logs it unseen
        if failed is None and lost is not None:
            raise lost
    if failed is not None:
        raise failed
    if cancelled:
        raise asyncio.CancelledError


@dataclass
class _Batch:
    """One write transaction that requests of this worker share (write()): each runs its block
    in a savepoint, and all answer after the one COMMIT."""

    committed: asyncio.Future[None]  # the COMMIT's outcome
    settled: asyncio.Future[None] | None = None  # set when the woken members have run
    running: int = 0  # members woken whose block has not ended
    broken: BaseException | None = None  # what made SQLite roll the whole transaction back

    def leave(self) -> None:
        """A woken member's block ended (or it will not run)."""
        self.running -= 1
        if self.running == 0 and self.settled is not None and not self.settled.done():
            self.settled.set_result(None)


async def _turn(writers: _Writers) -> _Batch | None:
    """None when this request leads the next transaction; else the open one it joins."""
    loop = asyncio.get_running_loop()
    if writers.busy is not loop:  # nobody has the turn (or one of a loop that is gone)
        writers.busy = loop
        writers.waiting.clear()
        return None
    turn: asyncio.Future[_Batch | None] = loop.create_future()
    writers.waiting.append(turn)
    try:
        return await turn
    except asyncio.CancelledError:
        if turn.done() and not turn.cancelled():  # handed something just before the cancel
            given = turn.result()
            if given is None:
                _pass_turn(writers)
            else:
                given.leave()
        raise


def _pass_turn(writers: _Writers) -> None:
    """The next waiting request of this worker leads the next transaction."""
    while writers.waiting:
        turn = writers.waiting.popleft()
        if not turn.done():  # not cancelled
            turn.set_result(None)
            return
    writers.busy = None


async def _gather(writers: _Writers, batch: _Batch) -> bool:
    """Wake this worker's waiting writers into the open transaction (up to MAX_BATCH) and wait
    until their blocks have run; True if this task was cancelled meanwhile."""
    cancelled, members = False, 1
    while writers.waiting and members < MAX_BATCH and batch.broken is None:
        batch.settled = asyncio.get_running_loop().create_future()
        while writers.waiting and members < MAX_BATCH:
            turn = writers.waiting.popleft()
            if not turn.done():
                batch.running += 1
                members += 1
                turn.set_result(batch)
        if batch.running == 0:
            break
        while not batch.settled.done():
            try:  # the members' blocks are short and never await: wait them out
                await asyncio.shield(batch.settled)
            except asyncio.CancelledError:
                cancelled = True
    metrics.WRITE_BATCH.observe(members)
    return cancelled


@contextmanager
def _member(conn: sqlite3.Connection, batch: _Batch) -> Iterator[None]:
    """One request's block in a shared transaction: in a savepoint, undone alone if it fails."""
    global _transactions
    if batch.broken is not None:
        raise _rolled_back(batch.broken)
    _transactions += 1
    conn.execute("SAVEPOINT member")
    try:
        yield
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK TO member")
            conn.execute("RELEASE member")
        else:  # SQLite rolled back the whole transaction (an interrupt, a full disk)
            batch.broken = exc
        raise
    conn.execute("RELEASE member")


def _end(conn: sqlite3.Connection, batch: _Batch) -> None:
    """COMMIT a shared transaction (ROLLBACK a broken one) and tell its members."""
    if batch.broken is None:
        try:
            conn.execute("COMMIT")
        except BaseException as exc:
            batch.broken = exc
    if batch.broken is not None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        batch.committed.set_exception(_rolled_back(batch.broken))
    else:
        batch.committed.set_result(None)


def _rolled_back(cause: BaseException) -> Unavailable:
    return Unavailable(f"the write transaction this request shared was rolled back: {cause}")


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
    if postgres() or conn.in_transaction:
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
