"""The outbox of security events: its rows, read and written (tables in app/tables.py OUTBOX).

Appends run inside the write transaction of the change (app/events.py), tagged with the
current tenant. The poll endpoint (app/poll.py) offers, acknowledges and records refusals of
the current tenant's events only, as the store scopes resources (app/tenancy.py); the
deliverer (app/push.py) reads every tenant's events past each receiver's cursor, keeps the
cursors and the lease, and prunes. Writes take the connection of an open `database.write()`
transaction; reads use this worker's connection.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from app import database, dialect, tenancy
from app.tables import OUTBOX

EVENTS = OUTBOX.events
TENANT = OUTBOX.tenant
UNACKED = OUTBOX.unacked_index
POLL = "poll"  # the receiver name of the poll endpoint in event_errors


@dataclass(frozen=True)
class Event:
    """One stored SET: its sequence, its jti and its claims as JSON text."""

    seq: int
    jti: str
    claims: str


def append(conn: sqlite3.Connection, sets: list[dict[str, Any]]) -> None:
    """Append the current tenant's SETs' claims in the caller's write transaction, in order;
    each gets its jti here, `<seq>-<random>`, so that an ack finds its row by the primary key."""
    last = conn.execute(f"SELECT max(seq) FROM {EVENTS}").fetchone()[0] or 0
    tenant = tenancy.name()
    rows = []
    for seq, claims in enumerate(sets, start=last + 1):
        claims["jti"] = f"{seq}-{uuid.uuid4().hex}"
        rows.append((seq, claims["jti"], orjson.dumps(claims).decode(), claims["iat"], tenant))
    conn.executemany(
        f"INSERT INTO {EVENTS} (seq, jti, claims, created, {TENANT}) VALUES (?, ?, ?, ?, ?)", rows
    )


def last_seq() -> int:
    """The sequence of the newest event of any tenant (0 for none)."""
    found = database.connection().execute(f"SELECT max(seq) FROM {EVENTS}").fetchone()[0]
    return int(found or 0)


def _seq_of(jti: str) -> int | None:
    head, dash, _ = jti.partition("-")
    return int(head) if dash and head.isdigit() and len(head) < 19 else None


# --- poll (RFC 8936) -----------------------------------------------------------------------


def newest_unacknowledged() -> int:
    """The current tenant's newest event its poll receiver has not acknowledged (0 for none):
    one read of the last entry of the unacknowledged index, cheap enough to watch."""
    sql = f"SELECT max(seq) FROM {EVENTS} WHERE {TENANT} = ? AND acked IS NULL"
    return int(database.connection().execute(sql, [tenancy.name()]).fetchone()[0] or 0)


_DUE = f"{TENANT} = ? AND acked IS NULL AND (offered IS NULL OR offered <= ?)"


def has_offer(offered_before: float) -> bool:
    """Whether one of the current tenant's unacknowledged events is due: never offered, or
    offered before the time."""
    sql = f"SELECT 1 FROM {EVENTS} WHERE {_DUE} LIMIT 1"
    return (
        database.connection().execute(sql, [tenancy.name(), offered_before]).fetchone() is not None
    )


def offer(
    conn: sqlite3.Connection, limit: int, offered_before: float, now: float
) -> tuple[list[Event], bool]:
    """The current tenant's oldest due events, at most `limit`, marked offered now; and whether
    more are due."""
    tenant = tenancy.name()
    sql = f"SELECT seq, jti, claims FROM {EVENTS} WHERE {_DUE} ORDER BY seq LIMIT ?"
    found = [Event(*r) for r in conn.execute(sql, [tenant, offered_before, limit + 1])]
    taken = found[:limit]
    if taken:
        conn.execute(
            f"UPDATE {EVENTS} SET offered = ? WHERE {_DUE} AND seq BETWEEN ? AND ?",
            [now, tenant, offered_before, taken[0].seq, taken[-1].seq],
        )
    return taken, len(found) > limit


def acknowledge(conn: sqlite3.Connection, jtis: Sequence[str], now: float) -> None:
    """RFC 8936 §2.2 `ack`: these of the current tenant's events are delivered; unknown jtis,
    and other tenants' jtis, are ignored."""
    tenant = tenancy.name()
    known = [(now, seq, jti, tenant) for jti in jtis if (seq := _seq_of(jti)) is not None]
    conn.executemany(
        f"UPDATE {EVENTS} SET acked = ? WHERE seq = ? AND jti = ? AND {TENANT} = ?"
        " AND acked IS NULL",
        known,
    )


def refuse(
    conn: sqlite3.Connection, receiver: str, errs: dict[str, tuple[str, str | None]], now: float
) -> None:
    """Record SETs (by jti) a receiver refused; the poll receiver's (of the current tenant's
    events only) count as acknowledged."""
    polled = receiver == POLL
    mine = f" AND {TENANT} = ?" if polled else ""
    for jti, (err, description) in errs.items():
        conn.execute(
            f"INSERT INTO {OUTBOX.errors} (seq, receiver, err, description, at)"
            f" SELECT seq, ?, ?, ?, ? FROM {EVENTS} WHERE seq = ? AND jti = ?{mine}",
            [receiver, err, description, now, _seq_of(jti), jti]
            + ([tenancy.name()] if polled else []),
        )
    if polled:
        acknowledge(conn, list(errs), now)


# --- push (RFC 8935) -----------------------------------------------------------------------


@dataclass(frozen=True)
class Receiver:
    """A push receiver's state: the last sequence delivered, the failed attempts at the next."""

    url: str
    delivered: int
    attempts: int
    next_attempt: float


def receiver(url: str) -> Receiver:
    """A receiver's state; a new receiver starts before the oldest event kept."""
    sql = f"SELECT url, delivered, attempts, next_attempt FROM {OUTBOX.receivers} WHERE url = ?"
    found = database.connection().execute(sql, [url]).fetchone()
    return Receiver(*found) if found else Receiver(url, 0, 0, 0.0)


def after(seq: int, limit: int) -> list[Event]:
    """The events after a sequence, oldest first."""
    sql = f"SELECT seq, jti, claims FROM {EVENTS} WHERE seq > ? ORDER BY seq LIMIT ?"
    return [Event(*r) for r in database.connection().execute(sql, [seq, limit])]


def save_receiver(conn: sqlite3.Connection, state: Receiver, last_error: str | None = None) -> None:
    """Store a receiver's cursor and retry state."""
    conn.execute(
        f"INSERT INTO {OUTBOX.receivers} (url, delivered, attempts, next_attempt, last_error)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (url) DO UPDATE SET delivered = excluded.delivered,"
        " attempts = excluded.attempts, next_attempt = excluded.next_attempt,"
        " last_error = excluded.last_error",
        [state.url, state.delivered, state.attempts, state.next_attempt, last_error],
    )


def take_lease(
    conn: sqlite3.Connection, name: str, holder: str, now: float, seconds: float, dead: str | None
) -> bool:
    """Hold (or renew) a lease unless another holder's is unexpired; `dead` names a holder
    known to be gone, whose lease is taken at once."""
    found = conn.execute(
        f"SELECT holder, expires FROM {OUTBOX.leases} WHERE name = ?", [name]
    ).fetchone()
    if found is not None and found[0] not in (holder, dead) and found[1] > now:
        return False
    conn.execute(
        f"INSERT INTO {OUTBOX.leases} (name, holder, expires) VALUES (?, ?, ?) ON CONFLICT"
        " (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires",
        [name, holder, now + seconds],
    )
    return True


def lease(name: str) -> tuple[str, float] | None:
    """A lease's holder and expiry (Unix time), expired or not; None if never taken."""
    sql = f"SELECT holder, expires FROM {OUTBOX.leases} WHERE name = ?"
    found = database.connection().execute(sql, [name]).fetchone()
    return None if found is None else (str(found[0]), float(found[1]))


# --- retention -----------------------------------------------------------------------------


def low_mark(polled: bool, urls: Sequence[str]) -> int:
    """The lowest sequence that every receiver is past: before the oldest event a tenant's
    poll receiver has not acknowledged (when polled), and each push receiver's cursor."""
    marks = [receiver(url).delivered for url in urls]
    if polled:
        # Through the index of the unacknowledged (bounded), not past the acknowledged kept.
        oldest = database.connection().execute(
            f"SELECT min(seq) FROM {EVENTS}{dialect.current().indexed_by(UNACKED)}"
            " WHERE acked IS NULL"
        )
        first = oldest.fetchone()[0]
        marks.append(last_seq() if first is None else first - 1)
    return min(marks, default=last_seq())


def prune(
    conn: sqlite3.Connection, older_than: float, polled: bool, pushed_to: int, limit: int
) -> int:
    """Delete events written before `older_than` that are delivered everywhere: acknowledged
    by their tenant's poll receiver (when polled) and up to `pushed_to` (the push receivers'
    lowest cursor). Looks at `limit` sequences from the oldest such event, so an event a
    tenant has not acknowledged does not hold back the others'; returns how many went. The
    newest event stays, so that no sequence is used twice."""
    acked = " AND acked IS NOT NULL" if polled else ""
    true = dialect.current().true
    first = conn.execute(f"SELECT min(seq) FROM {EVENTS} WHERE {true}{acked}").fetchone()[0]
    if first is None:
        return 0
    sql = (
        f"DELETE FROM {EVENTS} WHERE seq >= ? AND seq < ? AND seq <= ? AND created < ?{acked}"
        f" AND seq < (SELECT max(seq) FROM {EVENTS})"
    )
    return conn.execute(sql, [first, first + limit, pushed_to, older_than]).rowcount


def skip_to(conn: sqlite3.Connection, seq: int, polled: bool, urls: Sequence[str]) -> int:
    """Drop the events some receiver still waits for up to `seq` (never the newest), and move
    the push cursors there; returns how many were dropped."""
    low = low_mark(polled, urls)
    sql = dialect.current()
    conditions = (["acked IS NULL"] if polled else []) + ([sql.true] if urls else [])
    waiting = " OR ".join(conditions) or sql.false
    dropped = conn.execute(
        f"DELETE FROM {EVENTS} WHERE seq > ? AND seq <= ? AND ({waiting})"
        f" AND seq < (SELECT max(seq) FROM {EVENTS})",
        [low, seq],
    ).rowcount
    for url in urls:
        state = receiver(url)
        if state.delivered < seq:
            save_receiver(conn, Receiver(url, seq, 0, 0.0), "events dropped")
    return dropped


def give_up_polls_of(conn: sqlite3.Connection, tenant: str, now: float) -> None:
    """A removed tenant's poll receiver is gone: its unacknowledged events count as delivered
    to it (push receivers still get them; retention prunes them)."""
    conn.execute(
        f"UPDATE {EVENTS} SET acked = ? WHERE {TENANT} = ? AND acked IS NULL", [now, tenant]
    )


def add_to_counter(conn: sqlite3.Connection, name: str, amount: int) -> int:
    """Add to a persistent counter; returns its new value."""
    return int(
        conn.execute(
            f"INSERT INTO {OUTBOX.state} (name, value) VALUES (?, ?) ON CONFLICT (name)"
            f" DO UPDATE SET value = {OUTBOX.state}.value + excluded.value RETURNING value",
            [name, amount],
        ).fetchone()[0]
    )


def state(name: str) -> int:
    """A persistent counter; 0 when never set."""
    sql = f"SELECT value FROM {OUTBOX.state} WHERE name = ?"
    found = database.connection().execute(sql, [name]).fetchone()
    return int(found[0]) if found else 0


def errors_of(receiver: str) -> list[tuple[int, str, str | None]]:
    """The refusals a receiver reported: (seq, err, description), oldest first."""
    sql = f"SELECT seq, err, description FROM {OUTBOX.errors} WHERE receiver = ? ORDER BY rowid"
    return [(r[0], r[1], r[2]) for r in database.connection().execute(sql, [receiver])]
