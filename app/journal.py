"""The journal: the last SCIM_JOURNAL_SIZE exchanges, redacted, in a SQLite file of their own.

A request only appends its Exchange to an in-memory queue (app/observe.py). A writer thread
per worker wakes every BATCH_SECONDS, redacts the batch (app/redact.py), writes it in one
transaction to `<database>.journal` and deletes what lies beyond the newest SCIM_JOURNAL_SIZE
rows. The SCIM database is never written for it, and a request never waits for it: when the
writer falls behind, an exchange past MAX_QUEUED is dropped and counted
(`scim_journal_dropped_total`), and past MAX_QUEUED_BYTES of bodies one is kept without them.
Every worker writes its own batches to the same file (WAL). The journal is disposable: a file
of another layout is emptied and recreated. The console's signed-out sessions live here too.

This module is the only one that names the journal's tables and columns.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from app import access_log, config, metrics, redact

if TYPE_CHECKING:
    from app.observe import Exchange

SUFFIX = ".journal"
VERSION = 2
BATCH_SECONDS = 0.5
MAX_QUEUED = 5_000
MAX_QUEUED_BYTES = 64 * 1024 * 1024
BODY_CHARS = 32 * 1024  # of a request body kept; the rest is cut, saying how much there was
# Of a response body: this server's own answer, a page of 100 users is 70 KiB. Its start shows
# what was answered; storing 32 KiB of each page was a fifth of what serving the page cost.
RESPONSE_CHARS = 8 * 1024
NOT_AUTHENTICATED = "[not kept: the request was not authenticated]"
BACKLOG_FULL = "[not kept: the journal's backlog was full]"

log = logging.getLogger(__name__)

_COLUMNS = (
    "epoch", "request_id", "method", "path", "query", "status", "scim_type",
    "latency_ms", "client", "user_agent", "resource_id", "operation", "request_headers",
    "request_body", "response_headers", "response_body",
)  # fmt: skip
_SCHEMA = [
    "DROP TABLE IF EXISTS exchange",
    "DROP TABLE IF EXISTS signed_out",
    f"CREATE TABLE exchange (id INTEGER PRIMARY KEY, {', '.join(_COLUMNS)})",
    "CREATE TABLE signed_out (session TEXT PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID",
    f"PRAGMA user_version = {VERSION}",
]
_INSERT = f"INSERT INTO exchange ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_SELECT = f"SELECT id, {', '.join(_COLUMNS)} FROM exchange"
_TRIM = "DELETE FROM exchange WHERE id <= (SELECT max(id) FROM exchange) - ?"


def path_for(db_path: str) -> str:
    """The journal file: SCIM_JOURNAL, else beside a SQLite database; with PostgreSQL a local
    file of this host (`scim.journal`): the journal is per host, never in the shared database."""
    settings = config.get()
    if settings.journal_path and db_path == settings.db_path:
        return settings.journal_path
    return "scim" + SUFFIX if config.is_postgres(db_path) else db_path + SUFFIX


def connect(path: str) -> sqlite3.Connection:
    """A connection to a journal file, created or recreated with this layout if needed."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # a power cut may lose the last batch: fine here
    if conn.execute("PRAGMA user_version").fetchone()[0] != VERSION:
        conn.execute("BEGIN IMMEDIATE")
        if conn.execute("PRAGMA user_version").fetchone()[0] != VERSION:  # another worker won
            for statement in _SCHEMA:
                conn.execute(statement)
        conn.execute("COMMIT")
    return conn


# --- writing (off the request path) ----------------------------------------------------------


class _Writer:
    """This worker's queue of exchanges and the thread that writes them in batches."""

    def __init__(self) -> None:
        self.queue: collections.deque[Exchange] = collections.deque()
        self.queued_bytes = 0  # added by the request path only
        self.written_bytes = 0  # added by the writer only; the difference is the backlog
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.opened: tuple[str, sqlite3.Connection] | None = None

    def record(self, exchange: Exchange) -> None:
        if self.thread is None:
            self._start()
        if len(self.queue) >= MAX_QUEUED:
            metrics.JOURNAL_DROPPED.inc()
            return
        size = _size(exchange)
        if self.queued_bytes - self.written_bytes + size > MAX_QUEUED_BYTES:
            exchange.request_body = exchange.response_body = [BACKLOG_FULL.encode()]
            size = _size(exchange)
        self.queued_bytes += size
        self.queue.append(exchange)

    def _start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self.thread.start()
        atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            self.wake.wait(BATCH_SECONDS)
            self.wake.clear()
            try:
                self.flush()
            except Exception:  # the writer must survive anything; the batch is lost
                log.exception("The journal writer failed")

    def flush(self) -> None:
        """Write everything queued now (the writer thread, tests, and the exit do this)."""
        with self.lock:
            batch = [self.queue.popleft() for _ in range(len(self.queue))]
            metrics.BACKLOG.labels("journal").set(len(batch))
            if not batch:
                return
            by_file: dict[str, list[tuple[Any, ...]]] = {}
            for exchange in batch:
                assert exchange.journal is not None
                by_file.setdefault(exchange.journal, []).append(_row(exchange))
                self.written_bytes += _size(exchange)
            for path, rows in by_file.items():
                self._write(path, rows)

    def _write(self, path: str, rows: list[tuple[Any, ...]]) -> None:
        try:
            conn = self._connection(path)
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_INSERT, rows)
                conn.execute(_TRIM, [max(config.get().journal_size, 1)])
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            metrics.JOURNAL_DROPPED.inc(len(rows))
            log.warning("%d exchanges not journaled in %s: %s", len(rows), path, exc)
            return
        metrics.JOURNAL_WRITTEN.inc(len(rows))

    def _connection(self, path: str) -> sqlite3.Connection:
        if self.opened is None or self.opened[0] != path:
            if self.opened is not None:
                self.opened[1].close()
            self.opened = (path, connect(path))
        return self.opened[1]


def _size(exchange: Exchange) -> int:
    return sum(map(len, exchange.request_body)) + sum(map(len, exchange.response_body))


def _row(exchange: Exchange) -> tuple[Any, ...]:
    """The stored form of an exchange: everything redacted, bodies cut at BODY_CHARS (a
    response's at RESPONSE_CHARS)."""
    request_body = _text(exchange.request_body)
    if exchange.status == 401 and request_body:
        request_body = NOT_AUTHENTICATED  # anyone can send one; it proves nothing
    return (
        exchange.started, exchange.request_id,
        exchange.method, exchange.path, exchange.query, exchange.status, exchange.scim_type,
        round(exchange.latency_ms, 3), exchange.client, exchange.user_agent,
        exchange.resource_id, exchange.operation,
        orjson.dumps(redact.headers(exchange.request_headers)).decode(), request_body,
        orjson.dumps(redact.headers(exchange.response_headers)).decode(),
        _text(exchange.response_body, echoed=True),
    )  # fmt: skip


def _text(chunks: list[bytes], echoed: bool = False) -> str:
    raw = b"".join(chunks)
    limit = RESPONSE_CHARS if echoed else BODY_CHARS
    cut = f"\n[cut: {len(raw)} bytes in all]"
    if echoed and len(raw) > limit and not redact.echoes_secret(raw[:limit]):
        # What is kept mentions no secret: only that much is read (redact.body would return
        # the whole as it is, and the cut would keep the same start).
        return raw[:limit].decode("utf-8", "replace") + cut
    text = redact.body(raw, echoed)
    return text[:limit] + cut if len(text) > limit else text


_writer = _Writer()


def _forked() -> None:
    """A forked worker starts with an empty queue and no thread or connection of its own."""
    global _writer
    _writer = _Writer()


os.register_at_fork(after_in_child=_forked)


def record(exchange: Exchange) -> None:
    """Queue an exchange for the writer; never blocks, never fails."""
    _writer.record(exchange)


def flush() -> None:
    """Write what is queued now (tests; the writer does it every BATCH_SECONDS)."""
    _writer.flush()


# --- reading (the console) -------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One journaled exchange as the console shows it."""

    id: int
    epoch: float
    request_id: str
    method: str
    path: str
    query: str
    status: int
    scim_type: str | None
    latency_ms: float
    client: str
    user_agent: str
    resource_id: str | None
    operation: str
    request_headers: list[tuple[str, str]]
    request_body: str
    response_headers: list[tuple[str, str]]
    response_body: str

    @property
    def time(self) -> str:
        """When the request arrived, RFC 3339 UTC with milliseconds."""
        return access_log.timestamp(self.epoch)


@dataclass(frozen=True)
class Wanted:
    """The console's filters: a status (`409`), a class (`4xx`) or `error` (400 and above), a
    client family, a part of the path."""

    status: str = ""
    client: str = ""
    path: str = ""


@contextmanager
def reading() -> Iterator[sqlite3.Connection]:
    """A connection to this server's journal, closed after use."""
    conn = connect(path_for(config.get().db_path))
    try:
        yield conn
    finally:
        conn.close()


def search(wanted: Wanted, limit: int, offset: int) -> tuple[int, list[Entry]]:
    """The number of matching exchanges and one page of them, newest first."""
    where, params = _where(wanted)
    with reading() as conn:
        total = conn.execute(f"SELECT count(*) FROM exchange WHERE {where}", params).fetchone()[0]
        sql = f"{_SELECT} WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?"
        rows = conn.execute(sql, [*params, limit, offset]).fetchall()
    return total, [_entry(r) for r in rows]


def _where(wanted: Wanted) -> tuple[str, list[Any]]:
    clauses: list[str] = ["1"]
    params: list[Any] = []
    status = wanted.status.strip().lower()
    if status == "error":
        clauses.append("status >= 400")
    elif len(status) == 3 and status[0].isdigit() and status[1:] == "xx":
        clauses.append("status BETWEEN ? AND ?")
        params += [int(status[0]) * 100, int(status[0]) * 100 + 99]
    elif status.isdigit():
        clauses.append("status = ?")
        params.append(int(status))
    if wanted.client:
        clauses.append("client = ?")
        params.append(wanted.client)
    if wanted.path:
        escaped = wanted.path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append("path LIKE ? ESCAPE '\\'")
        params.append(f"%{escaped}%")
    return " AND ".join(clauses), params


def get(exchange_id: int) -> Entry | None:
    """One exchange by its id."""
    with reading() as conn:
        found = conn.execute(f"{_SELECT} WHERE id = ?", [exchange_id]).fetchone()
    return _entry(found) if found else None


def since(epoch: float) -> list[tuple[str, int, int]]:
    """(client, status, count) of the exchanges since a time."""
    sql = (
        "SELECT client, status, count(*) FROM exchange WHERE epoch >= ?"
        " GROUP BY client, status ORDER BY client, status"
    )
    with reading() as conn:
        return [tuple(r) for r in conn.execute(sql, [epoch])]


def _entry(row: Sequence[Any]) -> Entry:
    values = list(row)
    for headers in (13, 15):  # request_headers, response_headers (after the id)
        values[headers] = [tuple(pair) for pair in orjson.loads(values[headers])]
    return Entry(*values)


def sign_out(session: str, expires: float) -> None:
    """Remember a signed-out console session until it would have expired."""
    with reading() as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM signed_out WHERE expires < ?", [time.time()])
        conn.execute("INSERT OR REPLACE INTO signed_out VALUES (?, ?)", [session, expires])
        conn.execute("COMMIT")


def signed_out(session: str) -> bool:
    """Whether a console session was signed out."""
    with reading() as conn:
        sql = "SELECT 1 FROM signed_out WHERE session = ?"
        return conn.execute(sql, [session]).fetchone() is not None
