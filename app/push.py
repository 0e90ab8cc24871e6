"""Push delivery (RFC 8935) and the outbox's upkeep, in a background task of every worker.

Every worker runs a `Deliverer` while events are on (`lifespan`). They compete for one lease
row: its holder delivers and prunes; the others look at the lease every BID_SECONDS and take
it when it has expired, or at once when its holder's process is gone (same host, pid not
alive). The holder sends a SET only while its lease has more than the request timeout plus
LEASE_MARGIN_SECONDS left, so two processes never deliver at the same time.

Per receiver URL, SETs go one at a time in sequence order: 202 is delivered; 400 with a JSON
`err` is refused (recorded in event_errors, logged, not retried); anything else, a timeout or
a refused connection is retried after an exponential backoff with jitter, and nothing after it
is sent meanwhile. The cursor and the retry state are rows (event_receivers), written after
each answer, so a restart resumes where delivery stopped. No request ever waits for this: it
runs beside them in the worker's event loop, and its HTTP calls are bounded by
SCIM_EVENTS_PUSH_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from app import config, database, outbox, sets
from app.outbox import Receiver

LEASE = "events"
LEASE_MARGIN_SECONDS = 5.0
BID_SECONDS = 2.0
IDLE_SECONDS = 0.1
UPKEEP_SECONDS = 10.0
BATCH = 100
PRUNE_BATCH = 5000
MEDIA_TYPE = "application/secevent+jwt"  # RFC 8417 §2.3

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    """Run a Deliverer in this worker while events are on; stop it when the worker stops."""
    if not config.get().events_on:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(Deliverer(stop).run())
    try:
        yield
    finally:
        stop.set()
        # Let a SET in flight get its answer recorded, so a restart does not send it again.
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, config.get().events_push_timeout_seconds + 1)


@dataclass
class Outcome:
    """A push's result: delivered (202), refused (400 with `err`), or an error to retry."""

    delivered: bool = False
    refused: tuple[str, str | None] | None = None
    error: str | None = None


class Deliverer:
    """One worker's contender for the lease, and while it holds it, the deliverer."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.expires = 0.0
        self.next_upkeep = 0.0
        timeout = config.get().events_push_timeout_seconds
        self.lease_seconds = 2 * (timeout + LEASE_MARGIN_SECONDS)

    async def run(self) -> None:
        """Until stopped: hold the lease or bid for it; deliver and prune while holding it."""
        timeout = config.get().events_push_timeout_seconds
        async with httpx.AsyncClient(timeout=timeout) as http:
            while not self.stop.is_set():
                busy = False
                try:
                    if await self.lease():
                        await self.upkeep()
                        busy = await self.deliver(http)
                except Exception:
                    log.exception("events: the deliverer failed; it carries on")
                pause = IDLE_SECONDS if self.holding() else BID_SECONDS
                if not busy:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), pause)

    def holding(self, margin: float = 0.0) -> bool:
        """Whether this process holds the lease for at least `margin` seconds more."""
        return self.expires - time.time() > margin

    async def lease(self) -> bool:
        """Renew the lease at half its time; take it when free, expired, or its holder died."""
        if self.holding(self.lease_seconds / 2):
            return True
        found = outbox.lease(LEASE)
        now = time.time()
        dead = found[0] if found is not None and _gone(found[0]) else None
        if found is not None and found[0] not in (self.holder, dead) and found[1] > now:
            self.expires = 0.0
            return False
        async with database.write() as conn:
            taken = outbox.take_lease(conn, LEASE, self.holder, now, self.lease_seconds, dead)
        self.expires = now + self.lease_seconds if taken else 0.0
        if taken and (found is None or found[0] != self.holder):
            log.info("events: %s delivers and prunes now", self.holder)
        return taken

    async def deliver(self, http: httpx.AsyncClient) -> bool:
        """One round over the receivers, side by side; whether any had something to send."""
        urls = config.get().events_push_urls
        done = await asyncio.gather(*(self._deliver_to(http, url) for url in urls))
        return any(done)

    async def _deliver_to(self, http: httpx.AsyncClient, url: str) -> bool:
        """Send a receiver its next SETs in order, until one fails or the batch ends."""
        state = outbox.receiver(url)
        if state.next_attempt > time.time():
            return False
        batch = outbox.after(state.delivered, BATCH)
        signer = sets.signer()
        timeout = config.get().events_push_timeout_seconds
        for event in batch:
            if self.stop.is_set() or not self.holding(timeout + LEASE_MARGIN_SECONDS):
                return True  # renew first (or stop): the lease must outlast the request
            outcome = await _post(http, url, signer.sign(event.claims), timeout)
            state = await self._record(state, event, outcome)
            if outcome.error is not None:
                return False
        return bool(batch)

    async def _record(self, state: Receiver, event: outbox.Event, outcome: Outcome) -> Receiver:
        now = time.time()
        if outcome.error is None:
            state = Receiver(state.url, event.seq, 0, 0.0)
        else:
            state = Receiver(state.url, state.delivered, state.attempts + 1, 0.0)
            delay = backoff(state.attempts)
            state = Receiver(state.url, state.delivered, state.attempts, now + delay)
            log.warning(
                "events: push of SET %s to %s failed (%s), attempt %d; next in %.1f s",
                event.jti, state.url, outcome.error, state.attempts, delay,
            )  # fmt: skip
        async with database.write() as conn:
            outbox.save_receiver(conn, state, outcome.error)
            if outcome.refused is not None:
                outbox.refuse(conn, state.url, {event.jti: outcome.refused}, now)
        if outcome.refused is not None:
            log.warning("events: %s refused SET %s: %s %s", state.url, event.jti, *outcome.refused)
        return state

    async def upkeep(self) -> None:
        """Prune delivered events past retention; drop the oldest beyond the pending bound."""
        if time.monotonic() < self.next_upkeep:
            return
        self.next_upkeep = time.monotonic() + UPKEEP_SECONDS
        settings = config.get()
        polled, urls = settings.events_token is not None, settings.events_push_urls
        older_than = time.time() - settings.events_retention_seconds
        pushed_to = outbox.low_mark(False, urls)  # every event, when nothing is pushed
        async with database.write() as conn:
            pruned = outbox.prune(conn, older_than, polled, pushed_to, PRUNE_BATCH)
        if pruned == PRUNE_BATCH:
            self.next_upkeep = time.monotonic()  # more to prune: again at the next round
        # At most this many wait (a few may be acknowledged out of order): no row is counted.
        waiting = outbox.last_seq() - outbox.low_mark(polled, urls)
        if waiting > settings.events_max_pending:
            keep_from = outbox.last_seq() - settings.events_max_pending
            async with database.write() as conn:
                dropped = outbox.skip_to(conn, keep_from, polled, urls)
                total = outbox.add_to_counter(conn, "dropped", dropped)
            log.error(  # loud: a receiver is losing events
                "EVENTS DROPPED: %d undelivered events over SCIM_EVENTS_MAX_PENDING=%d were"
                " deleted, oldest first (%d dropped in all); is the receiver down?",
                dropped, settings.events_max_pending, total,
            )  # fmt: skip


def backoff(attempts: int) -> float:
    """Seconds before the next attempt: doubling from the base, capped, with jitter (half to
    all of it, so receivers coming back are not hit by every retry at once)."""
    settings = config.get()
    base, cap = settings.events_push_backoff_seconds, settings.events_push_max_backoff_seconds
    return float(min(cap, base * 2 ** min(attempts - 1, 30)) * random.uniform(0.5, 1.0))


async def _post(http: httpx.AsyncClient, url: str, token: str, timeout: float) -> Outcome:
    """RFC 8935 §2: POST one SET; 202 delivered, 400 with an `err` refused, else an error."""
    headers = {"Content-Type": MEDIA_TYPE, "Accept": "application/json"}
    try:
        async with asyncio.timeout(timeout):
            answer = await http.post(url, content=token, headers=headers)
    except (httpx.HTTPError, TimeoutError, OSError) as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}"[:500])
    if answer.status_code == 202:
        return Outcome(delivered=True)
    if answer.status_code == 400:
        with contextlib.suppress(ValueError):
            body = answer.json()
            if isinstance(body, dict) and isinstance(body.get("err"), str):
                description = body.get("description")
                return Outcome(
                    refused=(body["err"], description if isinstance(description, str) else None)
                )
    return Outcome(error=f"HTTP {answer.status_code}")


def _gone(holder: str) -> bool:
    """Whether a lease holder was a process of this host that no longer runs."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
