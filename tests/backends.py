"""The PostgreSQL half of the suite: a database of its own per test process, emptied per test.

SCIM_TEST_POSTGRES names the server (default `postgresql://postgres@127.0.0.1:5432/postgres`);
each pytest process (each pytest-xdist worker) creates `scim_test_<random>` there, with the C.UTF-8
collation (text sorts by code point, as on SQLite), migrates it once, and drops it at the end.
Each test starts from empty tables (TRUNCATE, a few milliseconds) with the default tenant.
Without a reachable server the PostgreSQL tests skip and say so.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from app import postgres, tables

ADMIN_URL = os.environ.get("SCIM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
_EMPTY = ", ".join(
    [
        tables.USERS.name,
        tables.GROUPS.name,
        tables.MEMBERS_TABLE,
        tables.EMAILS_TABLE,
        tables.TOKENS_TABLE,
        tables.TENANTS_TABLE,
        tables.OUTBOX.events,
        tables.OUTBOX.errors,
        tables.OUTBOX.receivers,
        tables.OUTBOX.leases,
        tables.OUTBOX.state,
    ]
)
_DEFAULT_TENANT = (
    f"INSERT INTO {tables.TENANTS_TABLE} (name, created) VALUES ('default',"
    """ to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))"""
)


def unreachable() -> str | None:
    """Why the PostgreSQL half cannot run here, or None when it can."""
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"no PostgreSQL server at SCIM_TEST_POSTGRES={ADMIN_URL}: {exc}".strip()


def url_of(database: str) -> str:
    """The admin URL with another database name."""
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path=f"/{database}"))


def create() -> str:
    """A new, migrated database of this test process; returns its URL."""
    name = f"scim_test_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
            " LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
        )
    url = url_of(name)
    postgres.migrate(url)
    return url


def drop(url: str) -> None:
    """Close this process's pools and drop the database."""
    postgres.close()
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def database() -> Iterator[str]:
    """A new, migrated database for the block, dropped after it; the test is skipped, saying
    why, where no PostgreSQL server answers."""
    why = unreachable()
    if why is not None:
        pytest.skip(why)
    url = create()
    try:
        yield url
    finally:
        drop(url)


def empty(url: str) -> None:
    """Every table emptied, the default tenant back (on a connection of the pool), and no
    outage remembered from an earlier test (app/postgres.py)."""
    postgres.recovered()
    with postgres.transaction() as conn:
        conn.execute(f"TRUNCATE {_EMPTY} RESTART IDENTITY CASCADE")
        conn.execute(_DEFAULT_TENANT)
