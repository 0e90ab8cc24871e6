"""Conditional requests with weak ETags (RFC 7644 §3.14, RFC 7232 §3.1-3.2).

A resource's ETag is `W/"<version>"`; the version goes up on every change, a group's on every
membership change too. If-Match is checked by the write statement itself (app/store.py), so a
stale version is 412 and nothing changes.
"""

from __future__ import annotations

from connexion import request

from app.resources import etag


def _tags(header: str) -> set[str]:
    # Weak comparison (RFC 7232 §2.3.2): W/"3" and "3" name the same version.
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def expected_versions() -> frozenset[int] | None:
    """For PUT, PATCH and DELETE: the versions If-Match accepts; None when any will do.

    A tag that names no version of ours (`"abc"`) matches nothing.
    """
    header = request.headers.get("if-match")
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
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or etag(version).removeprefix("W/") in tags
