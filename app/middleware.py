"""ASGI middleware that runs before Connexion routes, authenticates and validates a request."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import config, deadline, errors, limits, preconditions, rates, rendering, spec, tenancy

SCIM_JSON = b"application/scim+json"
# Body media types we accept; both are validated against the spec's application/scim+json schema.
_JSON_TYPES = {b"application/json": SCIM_JSON, SCIM_JSON: SCIM_JSON}


class RequestNormalizer:
    """Make the requests real clients send look like the ones the spec describes.

    - Content-Type: lower-case media type; `application/json` becomes `application/scim+json`.
      Connexion matches media types case-sensitively and skips validation on a mismatch
      (CONTRIBUTING.md, "Connexion behaviours we route around").
    - Authorization: a bare token (Okta's "HTTP Header" mode) becomes `Bearer <token>`.
    - Bodies over SCIM_MAX_BODY_BYTES are refused with 413.
    - A chunked body (no Content-Length) is read here and passed on with a Content-Length:
      Connexion treats a request without one as bodiless ("RequestBody is required").
    - Before anything parses them, the query and the body are held to app/limits.py, and the
      request's deadline starts (app/deadline.py).
    - A tenant's base URL (`/scim/v2/tenants/<name>/...`) is routed as the plain base with that
      tenant made current (app/tenancy.py), once, before Connexion routes; the tenant's request
      rate is held to its limit (app/rates.py, 429).
    - While it reads the headers, it notes the request's origin (app/rendering.py `base_url`)
      and its If-Match / If-None-Match (app/preconditions.py), which handlers would otherwise
      read through Connexion's request proxies.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = config.get()
        deadline.start(settings.request_deadline_seconds)
        scope = _route_tenant(scope)
        limits.check_query(scope.get("query_string", b""))
        limit = settings.max_body_bytes
        headers = []
        chunked = has_body = False
        host = if_match = if_none_match = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"if-match" and if_match is None:  # the first, as headers.get has it
                if_match = value
            elif name == b"if-none-match" and if_none_match is None:
                if_none_match = value
            elif name == b"content-type":
                value = normalize_content_type(value)
            elif name == b"authorization":
                value = normalize_authorization(value)
            elif name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    raise _too_large(limit)
                has_body = value != b"0"
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            headers.append((name, value))
        rendering.enter_origin(_origin(scope, host))
        preconditions.enter(if_match, if_none_match)
        receive = _limited(receive, limit)
        if chunked or has_body:
            body = await _read_body(receive)
            limits.check_body(body)
            if chunked:
                headers = [(n, v) for n, v in headers if n != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
            receive = _replay(body, receive)
        await self.app({**scope, "headers": headers}, receive, send)


def _origin(scope: Scope, host: bytes | None) -> str:
    """`scheme://host[:port]` as the client addressed us: its Host header, else the server's
    address (without the scheme's default port), as Starlette's `request.url` has it."""
    scheme = scope.get("scheme", "http")
    if host is not None:
        return f"{scheme}://{host.decode('latin-1')}"
    address = scope.get("server")
    if address is None:
        return f"{scheme}://localhost"
    name, port = address
    default = port == {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{name}" if default or port is None else f"{scheme}://{name}:{port}"


def _route_tenant(scope: Scope) -> Scope:
    routed = tenancy.split_path(scope["path"], spec.base_path())
    tenant = routed[0] if routed else tenancy.DEFAULT_TENANT
    tenancy.enter(tenant)
    rates.admit(tenant.name)
    if routed is None:
        return scope
    path = routed[1]
    return {**scope, "path": path, "raw_path": path.encode()}


def normalize_content_type(value: bytes) -> bytes:
    """`Application/JSON; charset=utf-8` -> `application/scim+json; charset=utf-8`."""
    media_type, sep, params = value.partition(b";")
    media_type = media_type.strip().lower()
    return _JSON_TYPES.get(media_type, media_type) + sep + params


def normalize_authorization(value: bytes) -> bytes:
    """A header with no scheme is a bare token: `s3cret` -> `Bearer s3cret`."""
    value = value.strip()
    if value and b" " not in value:
        return b"Bearer " + value
    return value


def _too_large(limit: int) -> errors.PayloadTooLarge:
    return errors.PayloadTooLarge(f"The request body is larger than {limit} bytes")


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read already, then the connection's own messages (its disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _limited(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large(limit)
        return message

    return wrapped
