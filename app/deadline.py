"""A deadline per request: a SQLite statement still running when it passes is interrupted.

The middleware starts the clock (`start`); `app.store.open_database` installs `watch` as the
connection's progress handler, which SQLite calls every STEPS virtual-machine instructions.
Past the deadline the handler returns True, SQLite stops the statement with
`sqlite3.OperationalError: interrupted` (rolling back an open write transaction), and
`app.errors.database_error_handler` answers 503. The statements whose cost grows with the stored
data (scans for unindexed filters and sorts, deep pages) are where a request can take long; the
Python work on a request is bounded by the limits in app/limits.py and the spec.
"""

from __future__ import annotations

import sqlite3
import time
from contextvars import ContextVar

# About a millisecond of SQLite work between checks; an indexed lookup finishes before the
# first one, so the hot path never calls back into Python.
STEPS = 10_000

_deadline: ContextVar[float | None] = ContextVar("deadline", default=None)


def start(seconds: float) -> None:
    """Give the current request `seconds` from now; 0 or less means no deadline."""
    _deadline.set(time.monotonic() + seconds if seconds > 0 else None)


def passed() -> bool:
    """Whether the current request has a deadline and it has passed."""
    deadline = _deadline.get()
    return deadline is not None and time.monotonic() > deadline


def watch(conn: sqlite3.Connection) -> None:
    """Interrupt this connection's statements that run past the current request's deadline."""
    conn.set_progress_handler(passed, STEPS)
