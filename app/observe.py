"""The outermost middleware: every request timed, given an id, logged, counted and journaled.

It sits outside Connexion's exception middleware, so it sees the answer a client really got,
refusals included (401, 404, 405, 413, 415 and validation 400s). It only looks: bodies are
captured as they pass (the request body as an inner layer reads it, the response body as it is
sent), and all the work that costs (redaction, JSON, SQLite) happens in the journal's writer
thread, off the request path (app/journal.py).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from functools import cache

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import access_log, config, journal, metrics, redact, site, spec

# Header names as ASGI gives them (lower case).
_REQUEST_ID = b"x-request-id"
_USER_AGENT = b"user-agent"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(slots=True)
class Exchange:
    """One request and its answer. Bodies and headers are as they passed, not yet redacted:
    the journal's writer redacts them before anything is stored."""

    started: float
    request_id: str
    method: str
    path: str
    query: str
    client: str
    user_agent: str
    request_headers: list[tuple[bytes, bytes]]
    request_body: list[bytes] = field(default_factory=list)
    status: int = 500
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    response_body: list[bytes] = field(default_factory=list)
    latency_ms: float = 0.0
    scim_type: str | None = None
    resource_id: str | None = None
    operation: str = "unknown"
    journal: str | None = None  # the journal file to write to; None: not journaled


class Observer:
    """Access log, metrics and journal for every HTTP request (app/main.py installs it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        begun = time.perf_counter()
        exchange = _start(scope)
        echoed = exchange.request_id.encode()
        if exchange.journal is not None:
            receive = _tee(receive, exchange.request_body)

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                exchange.response_headers = message.get("headers", [])
                message = {
                    **message,
                    "headers": [*exchange.response_headers, (_REQUEST_ID, echoed)],
                }
            elif message["type"] == "http.response.body" and (
                exchange.journal is not None or exchange.status >= 400
            ):
                exchange.response_body.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            exchange.latency_ms = (time.perf_counter() - begun) * 1000
            _finish(exchange)


def _start(scope: Scope) -> Exchange:
    headers = scope["headers"]
    request_id = user_agent = ""
    for name, value in headers:
        if name == _REQUEST_ID:
            request_id = _kept_request_id(value)
        elif name == _USER_AGENT:
            user_agent = value.decode("latin-1")
    settings = config.get()
    path = scope["path"]
    return Exchange(
        started=time.time(),
        request_id=request_id or f"{random.getrandbits(64):016x}",  # an id, not a secret
        method=scope["method"],
        path=path,
        query=redact.query(scope.get("query_string", b"")),
        client=access_log.client_family(user_agent),
        user_agent=user_agent,
        request_headers=headers,
        journal=None
        if settings.journal_size <= 0 or site.owns(path)
        else journal.path_for(settings.db_path),
    )


def _kept_request_id(value: bytes) -> str:
    """An incoming X-Request-Id, kept if it is 1-128 visible ASCII characters."""
    if 0 < len(value) <= 128 and all(0x21 <= c <= 0x7E for c in value):
        return value.decode("ascii")
    return ""


def _tee(receive: Receive, chunks: list[bytes]) -> Receive:
    async def teed() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
        return message

    return teed


def _finish(exchange: Exchange) -> None:
    """Name what was done, then log, count and journal it."""
    exchange.operation, exchange.resource_id = _operation(exchange)
    if exchange.status >= 400:
        exchange.scim_type = _scim_type(exchange.response_body)
    access_log.emit(exchange)
    metrics.observe(exchange)
    if exchange.journal is not None:
        journal.record(exchange)


def _operation(exchange: Exchange) -> tuple[str, str | None]:
    """`GET /Users/{user_id}` (the spec's template; a bounded set of metric labels) and the id
    of the resource the request touched: from the path, or from a 201's Location."""
    method = exchange.method if exchange.method in _METHODS else "OTHER"
    if site.owns(exchange.path):
        return f"{method} {site.label(exchange.path)}", None
    template = _template(exchange.path)
    if template is None:
        return f"{method} unknown", None
    resource_id = None
    if template.endswith("}"):
        resource_id = exchange.path.rsplit("/", 1)[-1]
    elif exchange.status == 201:
        for name, value in exchange.response_headers:
            if name == b"location":
                resource_id = value.decode("latin-1").rsplit("/", 1)[-1]
    return f"{method} {template}", resource_id


@cache
def _templates() -> tuple[dict[str, str], dict[str, str]]:
    """The spec's path templates by full path, and those ending in a parameter by the path
    before it: two dictionary lookups per request instead of a regular expression each."""
    exact: dict[str, str] = {}
    by_parent: dict[str, str] = {}
    base = spec.base_path()
    for template in spec.document()["paths"]:
        parent, _, last = template.rpartition("/")
        if "{" in parent:
            raise ValueError(f"{template}: only a last segment may be a parameter here")
        if last.startswith("{"):
            by_parent[base + parent] = template
        else:
            exact[base + template] = template
    return exact, by_parent


def _template(path: str) -> str | None:
    """The spec's path template of a request path, as app.spec.match finds it."""
    exact, by_parent = _templates()
    found = exact.get(path)
    if found is None:
        parent, _, last = path.rpartition("/")
        found = by_parent.get(parent) if last else None
    return found


def _scim_type(body: list[bytes]) -> str | None:
    """The scimType of a SCIM Error body (RFC 7644 §3.12), if it is one."""
    try:
        error = orjson.loads(b"".join(body))
    except orjson.JSONDecodeError:
        return None
    found = error.get("scimType") if isinstance(error, dict) else None
    return found if isinstance(found, str) else None
