"""Prometheus metrics, served at /metrics in the text format.

Under gunicorn every worker counts in its own files in PROMETHEUS_MULTIPROC_DIR (prometheus
client's multi-process mode; app/worker.py prepares the directory in the master before any
worker starts), and /metrics adds them up across workers. In one process (the tests) the
client's ordinary registry serves them. `SCIM_METRICS=token` (the default) wants a SCIM token
on /metrics, `open` serves it to anyone.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response

from app import auth, config

if TYPE_CHECKING:
    from app.observe import Exchange

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0)

REQUESTS = Counter(
    "scim_requests",
    "HTTP requests answered, by operation (the spec's path template), status and client family",
    ["operation", "status", "client"],
)
REQUEST_SECONDS = Histogram(
    "scim_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by operation",
    ["operation"],
    buckets=_LATENCY_BUCKETS,
)
WRITE_LOCK_WAIT = Histogram(
    "scim_write_lock_wait_seconds",
    "Time a write waited for its turn at the writers' lock before its transaction began",
    buckets=_WAIT_BUCKETS,
)
WRITE_BATCH = Histogram(
    "scim_write_batch_requests",
    "Requests of one worker whose writes shared a SQLite transaction and its one commit",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
BACKLOG = Gauge(
    "scim_backlog",
    "Records waiting to be written, by queue, as the queue's writer last found them",
    ["queue"],
    multiprocess_mode="livesum",
)
JOURNAL_WRITTEN = Counter("scim_journal_written", "Exchanges written to the journal")
JOURNAL_DROPPED = Counter(
    "scim_journal_dropped",
    "Exchanges not journaled: the backlog was full, or the journal file could not be written",
)


def observe(exchange: Exchange) -> None:
    """Count one answered request and its latency."""
    _requests(exchange.operation, exchange.status, exchange.client).inc()
    _request_seconds(exchange.operation).observe(exchange.latency_ms / 1000)


# Each label set's child, looked up once: `labels()` checks and locks on every call. The label
# values are bounded (operations of the spec, statuses, client families; app/observe.py).
@functools.cache
def _requests(operation: str, status: int, client: str) -> Any:
    return REQUESTS.labels(operation, str(status), client)


@functools.cache
def _request_seconds(operation: str) -> Any:
    return REQUEST_SECONDS.labels(operation)


async def endpoint(request: Request) -> Response:
    """GET /metrics: every worker's metrics in Prometheus' text format."""
    if config.get().metrics_access == "token" and not _authorized(request):
        return Response(
            "A SCIM bearer token is required\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="scim"'},
            media_type="text/plain",
        )
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _authorized(request: Request) -> bool:
    header = request.headers.get("authorization", "").strip()
    scheme, _, token = header.partition(" ")
    if not token:  # a bare token, as Okta's "HTTP Header" mode sends it
        scheme, token = "bearer", scheme
    return scheme.lower() == "bearer" and bool(token) and auth.token_info(token.strip()) is not None
