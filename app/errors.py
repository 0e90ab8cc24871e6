"""SCIM errors (RFC 7644 §3.12): the classes handlers raise and the one place that renders them."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from app import config, deadline
from app.unavailable import Unavailable

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
MEDIA_TYPE = "application/scim+json"
WWW_AUTHENTICATE = 'Bearer realm="scim"'

UNAVAILABLE_RETRY_SECONDS = 2  # Retry-After of a 503 for a database out of reach
log = logging.getLogger(__name__)


class ScimError(ProblemException):
    """An error a client sees as a SCIM Error body."""

    status_code_default = 400
    scim_type: str | None = None

    def __init__(
        self, detail: str, *, status: int | None = None, headers: dict[str, str] | None = None
    ) -> None:
        status = status or self.status_code_default
        super().__init__(status=status, detail=detail, headers=headers)


class InvalidFilter(ScimError):
    """400 `invalidFilter`: the filter syntax was invalid or names what cannot be filtered."""

    scim_type = "invalidFilter"


class InvalidSyntax(ScimError):
    """400 `invalidSyntax`: the request body could not be parsed or is not the message named."""

    scim_type = "invalidSyntax"


class InvalidPath(ScimError):
    """400 `invalidPath`: a PATCH path was invalid or names no attribute."""

    scim_type = "invalidPath"


class NoTarget(ScimError):
    """400 `noTarget`: a PATCH path or filter matched no value (RFC 7644 §3.5.2)."""

    scim_type = "noTarget"


class InvalidValue(ScimError):
    """400 `invalidValue`: a value is of the wrong type, missing, or not allowed."""

    scim_type = "invalidValue"


class Mutability(ScimError):
    """400 `mutability`: the change would modify a read-only or immutable attribute."""

    scim_type = "mutability"


class Uniqueness(ScimError):
    """409 `uniqueness`: a unique attribute (userName) is already taken."""

    status_code_default = 409
    scim_type = "uniqueness"


class NotFound(ScimError):
    """404, no scimType: the resource does not exist."""

    status_code_default = 404


class PreconditionFailed(ScimError):
    """412, no scimType: If-Match names a version the resource no longer has (RFC 7644 §3.14)."""

    status_code_default = 412


class TooManyRequests(ScimError):
    """429, no scimType: the tenant is over its request rate; `Retry-After` says when to retry."""

    status_code_default = 429


class NotImplementedHere(ScimError):
    """501, no scimType: an operation RFC 7644 defines that this server does not offer."""

    status_code_default = 501


class PayloadTooLarge(ScimError):
    """413, no scimType: the request body is larger than the server accepts."""

    status_code_default = 413


def body(status: int, detail: str, scim_type: str | None = None) -> dict[str, object]:
    """The SCIM Error document for a status, detail and optional scimType."""
    error: dict[str, object] = {"schemas": [ERROR_SCHEMA], "status": str(status)}
    if scim_type:
        error["scimType"] = scim_type
    error["detail"] = detail
    return error


def render(
    status: int, detail: str, scim_type: str | None = None, headers: dict[str, str] | None = None
) -> ConnexionResponse:
    """The one place a SCIM Error response is built."""
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", WWW_AUTHENTICATE)
    return ConnexionResponse(
        status_code=status,
        body=json.dumps(body(status, detail, scim_type)),
        content_type=MEDIA_TYPE,
        headers=headers,
    )


def _empty_body(detail: str) -> bool:
    lowered = detail.lower()
    return "requestbody is required" in lowered or "must not be empty" in lowered


async def problem_handler(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Render our own errors and Connexion's (validation 400, auth 401, 415) as SCIM errors."""
    assert isinstance(exc, ProblemException)
    status = int(exc.status)
    detail = str(exc.detail or exc.title or "Request failed")
    if isinstance(exc, ScimError):
        scim_type = exc.scim_type
    elif status == 400 and detail.endswith(" - 'filter'"):
        # A SearchRequest's `filter` that breaks the spec (e.g. its maxLength): the spec's 400
        # lists filter errors as invalidFilter (RFC 7644 §3.4.3 refers to §3.4.2.2).
        scim_type = "invalidFilter"
    elif status == 400:
        # Connexion raises its 400 from inside `except JSONDecodeError` for malformed JSON (a
        # body the spec refuses is a ScimError from app/validation.py, which knows the path).
        malformed = isinstance(exc.__context__, json.JSONDecodeError)
        syntax = malformed or _empty_body(detail)
        scim_type = "invalidSyntax" if syntax else "invalidValue"
    else:
        scim_type = None
    if status >= 500:
        log.error("%s: %s", type(exc).__name__, detail)
    return render(status, detail, scim_type, _plain_headers(exc.headers))


async def http_exception_handler(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Render Starlette's HTTP errors (unknown route 404, 403) as SCIM errors."""
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No resource at {request.url.path}"
    return render(exc.status_code, str(detail), headers=_plain_headers(exc.headers))


Handler = Callable[[ConnexionRequest, Exception], Awaitable[ConnexionResponse]]


def method_not_allowed_handler(allowed_methods: Callable[[str], Iterable[str]]) -> Handler:
    """A 405 handler whose Allow header lists every method the spec has for the path.

    Connexion registers one route per (path, method), so its own Allow header names only the
    first route that matched (CONTRIBUTING.md, "Connexion behaviours we route around").
    """

    async def handler(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        path = request.url.path
        allow = ", ".join(allowed_methods(path))
        detail = f"Method {request.method} is not allowed on {path}"
        return render(405, detail, headers={"Allow": allow})

    return handler


async def unicode_error_handler(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """A body that is not UTF-8 (Connexion #1860 would answer 500)."""
    return render(400, "The request body is not valid UTF-8 JSON", "invalidSyntax")


async def database_error_handler(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """A statement SQLite stopped at the request's deadline (app/deadline.py) is a 503, and
    so is a database out of reach (`Unavailable`: PostgreSQL down, a lost connection, no free
    pooled connection, a statement past PostgreSQL's statement_timeout).

    The client may retry (Retry-After); nothing was written, as an interrupted write
    transaction is rolled back. Any other database error is unexpected.
    """
    if isinstance(exc, Unavailable):
        log.warning("%s %s: the database is unavailable: %s", request.method, request.url.path, exc)
        detail = "The database is unavailable right now; retry later"
        return render(503, detail, headers={"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)})
    if not deadline.passed():
        return await unexpected_error_handler(request, exc)
    seconds = config.get().request_deadline_seconds
    log.warning("%s %s ran past its %s s deadline", request.method, request.url.path, seconds)
    detail = f"The request took longer than {seconds:g} seconds and was stopped; retry later"
    return render(503, detail, headers={"Retry-After": "1"})


async def unexpected_error_handler(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Any other exception: logged with its traceback, answered with a plain SCIM 500."""
    log.error("Unhandled exception", exc_info=exc)
    return render(500, "Internal server error")


def _plain_headers(headers: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(headers or {}).items()}  # type: ignore[call-overload]
