"""PostgreSQL (SCIM_DB=postgresql://...): this process's connection pool, and a connection that
answers the part of sqlite3's interface the store uses, so one statement serves both backends.

`Connection.execute(sql, params)` takes SQLite's placeholders (`?` and `:name`), rewritten once
per statement text to psycopg's (`%s`, `%(name)s`; a literal `%` doubled), and returns the rows
read in full (pages are bounded by SCIM_MAX_RESULTS), so a pooled connection goes back to the
pool at once. `json` comes back as its text, which the store parses as it does SQLite's.

Text containing U+0000, which PostgreSQL cannot store, is refused before it is sent:
`400 invalidValue` (SQLite stores it). Errors keep sqlite3's classes, the ones the store and
the handlers already catch: a constraint violation is `sqlite3.IntegrityError`; a server that
cannot be reached, a lost connection, an exhausted pool or a statement past
SCIM_REQUEST_DEADLINE_SECONDS is `database.Unavailable` (a `sqlite3.OperationalError`),
answered 503 with Retry-After (app/errors.py). The pool drops a broken connection and opens
new ones by itself when the server is back.

Writes: `transaction()` takes a pooled connection, BEGINs and takes one advisory lock,
`pg_advisory_xact_lock(WRITE_LOCK)`, held to COMMIT: write transactions of every process of every
host run one at a time, as SQLite's are, so event sequence order is commit order and If-Match
and uniqueness behave exactly as on SQLite.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import psycopg
import psycopg_pool
from psycopg.types.string import TextLoader

from app import config, errors, pg_schema
from app.unavailable import Unavailable

WRITE_LOCK = 5384301  # the advisory lock of write transactions (app/dialect.py says it too)
POOL_SIZE = 4  # connections per process: a worker uses one at a time, plus the push task's
POOL_WAIT_SECONDS = 2.0  # longest wait for a pooled connection before a 503
CONNECT_TIMEOUT_SECONDS = 3
# The pool retries a failed connection with a growing delay for this long, then gives up until
# the next request asks: a server back after an outage is used again within seconds.
RECONNECT_SECONDS = 10.0
# After a request found no connection, this process answers 503 at once for this long rather
# than have each request wait POOL_WAIT_SECONDS (the statements run on the event loop).
OUTAGE_SECONDS = 1.0

_TOKEN = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|::|\?|:(\w+)|%")


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """SQLite placeholders to psycopg's; string literals and `::` casts are left alone."""

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "?":
            return "%s"
        if match.group(1):
            return f"%({match.group(1)})s"
        return text.replace("%", "%%")

    return _TOKEN.sub(replace, sql)


class Result:
    """The rows of a statement, read in full: fetchone, fetchall, iteration, rowcount."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows, self.rowcount, self._next = rows, rowcount, 0

    def fetchone(self) -> Any:
        """The next row, or None."""
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        """The rows not fetched yet."""
        rows, self._next = self._rows[self._next :], len(self._rows)
        return rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


# PostgreSQL's text cannot hold U+0000, raw or as the JSON escape a json value reads it to (an
# odd number of backslashes before `u0000` is the escape, an even number escaped backslashes).
_NUL = re.compile(r"\x00|(?<!\\)(?:\\\\)*\\u0000")


def _refuse_nul(params: Any) -> None:
    values = params.values() if isinstance(params, dict) else params
    for value in values or ():
        if isinstance(value, str) and ("\x00" in value or "u0000" in value) and _NUL.search(value):
            raise errors.InvalidValue("text containing U+0000 cannot be stored (PostgreSQL)")


@contextmanager
def translated_errors() -> Iterator[None]:
    """psycopg's errors as the sqlite3 classes the callers catch."""
    try:
        yield
    except psycopg.errors.IntegrityError as exc:
        raise sqlite3.IntegrityError(exc.diag.message_primary or str(exc)) from exc
    except psycopg.OperationalError as exc:  # unreachable, lost, pool timeout, statement timeout
        raise Unavailable(f"PostgreSQL: {exc}") from exc


class Connection:
    """A psycopg connection behind the sqlite3 methods the store calls."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Any = ()) -> Result:
        """Run one statement; its rows are read in full."""
        _refuse_nul(params)
        with translated_errors(), self.raw.cursor() as cursor:
            cursor.execute(translate(sql), params if params is not None else ())
            rows = cursor.fetchall() if cursor.description else []
            return Result(rows, cursor.rowcount)

    def try_lock(self) -> bool:
        """Take the writers' advisory lock if it is free (in a transaction: held to its end)."""
        found = self.execute("SELECT pg_try_advisory_xact_lock(?)", [WRITE_LOCK]).fetchone()
        return bool(found and found[0])

    def lock(self) -> None:
        """Wait for the writers' advisory lock (in a transaction: held to its end)."""
        self.execute("SELECT pg_advisory_xact_lock(?)", [WRITE_LOCK])

    def executemany(self, sql: str, seq: Sequence[Any] | Any) -> Result:
        """Run one statement for each parameter set; rowcount is the total."""
        batch = list(seq)
        if not batch:
            return Result([], 0)
        for params in batch:
            _refuse_nul(params)
        with translated_errors(), self.raw.cursor() as cursor:
            cursor.executemany(translate(sql), batch)
            return Result([], cursor.rowcount)


_outage_until = 0.0


@contextmanager
def _borrowed() -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection, or Unavailable at once while a recent wait for one failed."""
    global _outage_until
    if time.monotonic() < _outage_until:
        raise Unavailable("PostgreSQL could not be reached a moment ago")
    try:
        raw = pool().getconn()
    except psycopg_pool.PoolTimeout:
        _outage_until = time.monotonic() + OUTAGE_SECONDS
        raise
    try:
        yield raw
    finally:
        pool().putconn(raw)


def recovered() -> None:
    """Forget a recent outage (tests)."""
    global _outage_until
    _outage_until = 0.0


class Reader:
    """Autocommit reads: each statement on a pooled connection, given back at once."""

    def execute(self, sql: str, params: Any = ()) -> Result:
        """Run one statement outside any transaction."""
        with translated_errors(), _borrowed() as raw:
            return Connection(raw).execute(sql, params)


_pools: dict[tuple[int, str], psycopg_pool.ConnectionPool] = {}


def _configure(raw: psycopg.Connection[Any]) -> None:
    raw.adapters.register_loader("json", TextLoader)  # JSON text, parsed by the store
    raw.autocommit = True  # transactions are explicit (transaction())


def pool() -> psycopg_pool.ConnectionPool:
    """This process's pool for SCIM_DB, made (and the schema migrated) on first use."""
    settings = config.get()
    key = (os.getpid(), settings.db_path)
    found = _pools.get(key)
    if found is None:
        migrate(settings.db_path)
        timeout_ms = int(settings.request_deadline_seconds * 1000)
        found = psycopg_pool.ConnectionPool(
            settings.db_path,
            min_size=1,
            max_size=POOL_SIZE,
            timeout=POOL_WAIT_SECONDS,
            reconnect_timeout=RECONNECT_SECONDS,
            configure=_configure,
            check=psycopg_pool.ConnectionPool.check_connection,
            kwargs={
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                "options": f"-c statement_timeout={max(timeout_ms, 0)}",
            },
            name="scim",
            open=True,
        )
        _pools[key] = found  # a pool of a parent process is left alone (its sockets)
    return found


def migrate(url: str) -> int:
    """Bring the database to the current schema (app/pg_schema.py), on a connection of its own."""
    with translated_errors(), psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS) as raw:
        return pg_schema.apply(raw)


def close() -> None:
    """Close this process's pools (tests; a server's pools close with the process)."""
    for key in [k for k in _pools if k[0] == os.getpid()]:
        _pools.pop(key).close()


_open: ContextVar[Connection | None] = ContextVar("open_transaction", default=None)


def open_transaction() -> Connection | None:
    """The write transaction open in this context: reads inside it see its own writes, as
    reads on SQLite's one connection per worker do."""
    return _open.get()


@contextmanager
def transaction(locked: bool = True) -> Iterator[Connection]:
    """A write transaction holding the writers' advisory lock until COMMIT or ROLLBACK; with
    `locked` False the caller takes it (`try_lock`, then `lock` in a thread: app/database.py)."""
    with translated_errors(), _borrowed() as raw, raw.transaction():
        conn = Connection(raw)
        if locked:
            conn.lock()
        token = _open.set(conn)
        try:
            yield conn
        finally:
            _open.reset(token)
