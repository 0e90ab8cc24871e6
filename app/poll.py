"""POST /events/poll (RFC 8936): the app takes its SETs, acknowledges them, reports errors.

One poll receiver per tenant, at the tenant's base URL (`/scim/v2/tenants/<name>/events/poll`;
the plain base is the default tenant's), each seeing its tenant's events only, all
authenticated by SCIM_EVENTS_TOKEN (app/auth.py `events_token_info`); without that setting
the endpoint answers 404 (`EventsGate`). Delivery is at least once: an
event offered and not acknowledged is offered again once SCIM_EVENTS_REDELIVER_SECONDS have
passed (0: at the next poll). SETs are offered oldest first, so a receiver that applies them
in the order of `sets` applies each resource's changes in order.

A long poll (`returnImmediately` false, the default) waits up to SCIM_EVENTS_LONG_POLL_SECONDS.
Workers are separate processes, so a waiting poll watches its tenant's newest unacknowledged
event every WAKE_SECONDS: one read of the last entry of an index, so a write in any worker
wakes it within 50 ms, with no file, pipe or signal to clean up after a crash.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from app import config, database, deadline, errors, outbox, sets, spec
from app.rendering import Response

POLL_LIMIT = 1000  # most SETs in one answer; moreAvailable tells the receiver to ask again
WAKE_SECONDS = 0.05
JSON = {"Content-Type": "application/json"}  # RFC 8936 §2.4; errors stay SCIM errors
RECHECK_SECONDS = 1.0  # a waiting poll also looks for events due again (redelivery)

log = logging.getLogger(__name__)


async def poll(body: dict[str, Any]) -> Response:
    """RFC 8936 §2.2-2.4: acknowledge `ack`, record `setErrs`, answer due SETs (or wait)."""
    settings = config.get()
    await _record(body.get("ack", []), body.get("setErrs", {}))
    if body.get("maxEvents") == 0:  # RFC 8936 §2.2: acknowledge only
        due = time.time() - settings.events_redeliver_seconds
        return {"sets": {}, "moreAvailable": outbox.has_offer(due)}, 200, JSON
    limit = min(body.get("maxEvents", POLL_LIMIT), POLL_LIMIT)
    waits = not body.get("returnImmediately", False)
    until = time.monotonic() + settings.events_long_poll_seconds if waits else None
    found, more = await _take(limit, until)
    signer = sets.signer()
    answer = {"sets": {e.jti: signer.sign(e.claims) for e in found}, "moreAvailable": more}
    return answer, 200, JSON


async def _record(acks: list[str], errs: dict[str, Any]) -> None:
    """Acknowledged SETs are delivered; refused ones (setErrs) are recorded, logged, and not
    offered again (RFC 8936 §2.4)."""
    if not acks and not errs:
        return
    refused: dict[str, tuple[str, str | None]] = {}
    for jti, error in errs.items():
        refused[jti] = (str(error.get("err")), error.get("description"))
        log.warning("the poll receiver refused SET %s: %s %s", jti, *refused[jti])
    now = time.time()
    async with database.write() as conn:
        outbox.acknowledge(conn, acks, now)
        outbox.refuse(conn, outbox.POLL, refused, now)


async def _take(limit: int, until: float | None) -> tuple[list[outbox.Event], bool]:
    """Due events marked offered; with `until`, wait for some until then."""
    while True:
        now = time.time()
        due = now - config.get().events_redeliver_seconds
        if outbox.has_offer(due):
            async with database.write() as conn:
                found, more = outbox.offer(conn, limit, due, now)
            if found:
                return found, more
        if until is None or time.monotonic() >= until:
            return [], False
        await _wait_for_new(until)
        # The request's deadline covers its database work, not the time it waited.
        deadline.start(config.get().request_deadline_seconds)


async def _wait_for_new(until: float) -> None:
    """Return when an event is written (by any worker), at `until`, or after RECHECK_SECONDS."""
    seen = outbox.newest_unacknowledged()
    stop = min(until, time.monotonic() + RECHECK_SECONDS)
    while time.monotonic() < stop:
        await asyncio.sleep(WAKE_SECONDS)
        if outbox.newest_unacknowledged() != seen:
            return


class EventsGate:
    """The poll endpoint does not exist (404) while SCIM_EVENTS_TOKEN is unset: no token can
    open it, and the IdP's token never reaches it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.path = spec.base_path() + "/events/poll"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        on = config.get().events_token is not None
        if scope["type"] == "http" and scope["path"] == self.path and not on:
            raise errors.NotFound(f"No resource at {self.path}: security events are off")
        await self.app(scope, receive, send)
