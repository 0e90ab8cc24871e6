"""Health checks for load balancers, without a token: /healthz (the process answers) and
/readyz (the database can be read and its write lock taken)."""

from __future__ import annotations

import logging
import sqlite3

from starlette.requests import Request
from starlette.responses import JSONResponse

from app import database, store
from app.resources import USER

log = logging.getLogger(__name__)


async def live(_request: Request) -> JSONResponse:
    """GET /healthz: the worker's event loop answers."""
    return JSONResponse({"status": "ok"})


async def ready(_request: Request) -> JSONResponse:
    """GET /readyz: a read of the users table, and an empty write transaction.

    The write takes the writers' lock and SQLite's (`BEGIN IMMEDIATE`) and commits nothing, so
    a probe never writes to the database. It waits for the lock like any write (SQLite gives up
    after database.LOCK_WAIT_SECONDS: 503); a load balancer's own probe timeout bounds it.
    """
    try:
        store.exists(USER, "")
        async with database.write():
            pass
    except (sqlite3.Error, OSError) as exc:
        detail = str(exc)
        log.warning("not ready: %s", detail)
        return JSONResponse({"status": "unavailable", "detail": detail}, status_code=503)
    return JSONResponse({"status": "ready"})
