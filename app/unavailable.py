"""The database could not be used right now (PostgreSQL unreachable, a lost connection, no free
pooled connection, a statement past the deadline): the request is answered 503 with
Retry-After (app/errors.py) and nothing was written. A sqlite3.OperationalError, so the code
that already handles SQLite's "database is locked" or "interrupted" handles it too."""

from __future__ import annotations

import sqlite3


class Unavailable(sqlite3.OperationalError):
    """The database is out of reach for now; retry later."""
