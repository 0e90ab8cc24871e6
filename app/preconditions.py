"""Conditional requests with weak ETags (RFC 7644 §3.14, RFC 7232 §3.1-3.2).

A resource's ETag is `W/"<version>"`; the version goes up on every change, a group's on every
membership change too. If-Match is checked by the write statement itself (app/store.py), so a
stale version is 412 and nothing changes.
"""

from __future__ import annotations

from contextvars import ContextVar

from connexion import request

from app.resources import etag

# The request's If-Match and If-None-Match values (None: absent), set by app/middleware.py from
# the headers it reads anyway; unset outside its requests, where Connexion's request is read.
_conditions: ContextVar[tuple[str | None, str | None]] = ContextVar("conditions")


def enter(if_match: bytes | None, if_none_match: bytes | None) -> None:
    """The request's conditional headers (app/middleware.py calls this)."""
    _conditions.set((_text(if_match), _text(if_none_match)))


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _header(index: int, name: str) -> str | None:
    found = _conditions.get(None)
    return request.headers.get(name) if found is None else found[index]


def _tags(header: str) -> set[str]:
    # Weak comparison (RFC 7232 §2.3.2): W/"3" and "3" name the same version.
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def expected_versions() -> frozenset[int] | None:
    """For PUT, PATCH and DELETE: the versions If-Match accepts; None when any will do.

    A tag that names no version of ours (`"abc"`) matches nothing.
    """
    header = _header(0, "if-match")
    return None if header is None else versions(header)


def versions(header: str) -> frozenset[int] | None:
    """The versions an If-Match value (or a bulk operation's `version`) accepts; None: any."""
    tags = _tags(header)
    if "*" in tags:
        return None
    found = (tag.strip('"') for tag in tags)
    return frozenset(int(v) for v in found if v.isascii() and v.isdigit() and str(int(v)) == v)


def not_modified(version: int) -> bool:
    """For GET: whether If-None-Match names the current version (answer 304)."""
    header = _header(1, "if-none-match")
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or etag(version).removeprefix("W/") in tags
