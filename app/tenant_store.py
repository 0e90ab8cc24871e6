"""The rows of tenants and their tokens: what the admin commands change and the token check reads.

A token is shown once when it is made and kept only as its SHA-256 (a token is 256 random bits,
so a plain hash is enough: there is nothing to guess). A tenant has at most two live tokens, so
a rotation (add the new one, switch the identity provider over, revoke the old one) has no gap.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app import database, errors, outbox, tenancy
from app.tables import GROUPS, TENANTS_TABLE, TOKENS_TABLE, USERS, Table

MAX_LIVE_TOKENS = 2
PREFIX_LENGTH = 8
CACHE_SECONDS = 5.0  # how long a worker trusts what it read of a token (revocation delay)
USE_RECORDED_EVERY = 60.0  # seconds between two writes of one token's last use, per worker


@dataclass(frozen=True)
class Token:
    """A token as listed: never the token itself, only its first characters."""

    prefix: str
    created: str
    last_used: str | None
    expires: str | None


@dataclass(frozen=True)
class TenantInfo:
    """A tenant as `tenants list` shows it."""

    name: str
    created: str
    users: int
    groups: int
    rate_limit: float | None
    tokens: list[Token]


def now() -> str:
    """The current time as RFC 3339 UTC with milliseconds (as app/store.py writes it)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


# --- the token check (every request) ---------------------------------------------------------

_seen: dict[str, tuple[str | None, str | None, float]] = {}  # hash -> (tenant, expires, read at)
_recorded: dict[str, float] = {}  # hash -> when this worker last wrote its last use


def tenant_of(token: str) -> str | None:
    """The tenant a live token belongs to, or None (unknown, expired or revoked)."""
    hashed = digest(token)
    cached = _seen.get(hashed)
    moment = time.monotonic()
    if cached is None or moment - cached[2] > CACHE_SECONDS:
        sql = f"SELECT tenant, expires FROM {TOKENS_TABLE} WHERE hash = ?"
        row = database.connection().execute(sql, [hashed]).fetchone()
        cached = (row[0], row[1], moment) if row else (None, None, moment)
        if len(_seen) > 10_000:  # bounded: unknown tokens sent by a scanner are cached too
            _seen.clear()
        _seen[hashed] = cached
    owner, expires, _ = cached
    if owner is None or (expires is not None and expires <= now()):
        return None
    if moment - _recorded.get(hashed, 0.0) > USE_RECORDED_EVERY:
        _recorded[hashed] = moment
        _record_use(hashed)
    return owner


def _record_use(hashed: str) -> None:
    # Best effort, never waiting: a read must not queue behind another worker's write.
    try:
        database.side_connection().execute(
            f"UPDATE {TOKENS_TABLE} SET last_used = ? WHERE hash = ?", [now(), hashed]
        )
    except sqlite3.OperationalError:  # locked by a writer right now: next time
        _recorded.pop(hashed, None)


# --- admin (app/tenants.py) --------------------------------------------------------------------


def add(name: str) -> str:
    """Create a tenant and its first token; returns the token (shown once)."""
    tenancy.check_name(name)
    with database.write_sync() as conn:
        try:
            conn.execute(
                f"INSERT INTO {TENANTS_TABLE} (name, created) VALUES (?, ?)", [name, now()]
            )
        except sqlite3.IntegrityError as exc:
            raise errors.Uniqueness(f"tenant {name!r} exists already") from exc
        return _new_token(conn, name, None)


def add_token(name: str, expires_in_days: float | None = None) -> str:
    """A further token for a tenant (at most two live ones); returns it (shown once)."""
    with database.write_sync() as conn:
        _require(conn, name)
        live = conn.execute(
            f"SELECT count(*) FROM {TOKENS_TABLE} WHERE tenant = ?"
            " AND (expires IS NULL OR expires > ?)",
            [name, now()],
        ).fetchone()[0]
        if live >= MAX_LIVE_TOKENS:
            raise errors.InvalidValue(
                f"tenant {name!r} has {live} live tokens already; revoke one first"
            )
        expires = None
        if expires_in_days is not None:
            moment = datetime.now(UTC) + timedelta(days=expires_in_days)
            expires = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return _new_token(conn, name, expires)


def _new_token(conn: sqlite3.Connection, name: str, expires: str | None) -> str:
    token = secrets.token_urlsafe(32)
    conn.execute(
        f"INSERT INTO {TOKENS_TABLE} (hash, tenant, prefix, created, expires)"
        " VALUES (?, ?, ?, ?, ?)",
        [digest(token), name, token[:PREFIX_LENGTH], now(), expires],
    )
    return token


def revoke(name: str, prefix: str) -> None:
    """Revoke the tenant's token that starts with `prefix` (it must name exactly one)."""
    with database.write_sync() as conn:
        _require(conn, name)
        found = conn.execute(
            f"SELECT hash FROM {TOKENS_TABLE} WHERE tenant = ? AND substr(prefix, 1, ?) = ?",
            [name, len(prefix), prefix],
        ).fetchall()
        if len(found) != 1:
            raise errors.InvalidValue(
                f"{prefix!r} names {len(found)} of {name!r}'s tokens; give more characters"
            )
        conn.execute(f"DELETE FROM {TOKENS_TABLE} WHERE hash = ?", [found[0][0]])


def exists(name: str, conn: sqlite3.Connection | None = None) -> bool:
    """Whether a tenant of this name exists (read on `conn` inside a write transaction)."""
    sql = f"SELECT 1 FROM {TENANTS_TABLE} WHERE name = ?"
    return (conn or database.connection()).execute(sql, [name]).fetchone() is not None


def remove(name: str) -> None:
    """Delete a tenant and everything it holds (ON DELETE CASCADE); its events stay for the
    push receivers and retention, no longer waiting for its poll receiver."""
    if name == tenancy.DEFAULT:
        raise errors.InvalidValue("the default tenant cannot be removed")
    with database.write_sync() as conn:
        _require(conn, name)
        conn.execute(f"DELETE FROM {TENANTS_TABLE} WHERE name = ?", [name])
        outbox.give_up_polls_of(conn, name, time.time())


def set_rate_limit(name: str, rate: float | None) -> None:
    """A tenant's own request rate (per second); None: the server's SCIM_TENANT_RATE_LIMIT."""
    with database.write_sync() as conn:
        _require(conn, name)
        conn.execute(f"UPDATE {TENANTS_TABLE} SET rate_limit = ? WHERE name = ?", [rate, name])


def rate_limit(name: str) -> float | None:
    """A tenant's own request rate, if one is set."""
    sql = f"SELECT rate_limit FROM {TENANTS_TABLE} WHERE name = ?"
    row = database.connection().execute(sql, [name]).fetchone()
    return float(row[0]) if row and row[0] is not None else None


def listing() -> list[TenantInfo]:
    """Every tenant with its counts and tokens."""
    conn = database.connection()
    found = []
    for name, created, rate in conn.execute(
        f"SELECT name, created, rate_limit FROM {TENANTS_TABLE} ORDER BY name"
    ):
        found.append(
            TenantInfo(
                name,
                created,
                _count(conn, USERS, name),
                _count(conn, GROUPS, name),
                rate,
                [
                    Token(*row)
                    for row in conn.execute(
                        f"SELECT prefix, created, last_used, expires FROM {TOKENS_TABLE}"
                        " WHERE tenant = ? ORDER BY created",
                        [name],
                    )
                ],
            )
        )
    return found


def _count(conn: sqlite3.Connection, table: Table, tenant: str) -> int:
    sql = f"SELECT count(*) FROM {table.name} WHERE {table.tenant} = ?"
    return int(conn.execute(sql, [tenant]).fetchone()[0])


def _require(conn: sqlite3.Connection, name: str) -> None:
    if not exists(name, conn):
        raise errors.NotFound(f"no tenant {name!r}")
