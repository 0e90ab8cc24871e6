"""Conditional requests with weak ETags (RFC 7644 §3.14, RFC 7232 §3.1-3.2).

A resource's ETag is `W/"<version>"`; the version goes up on every change, a group's on every
membership change too.
"""

from __future__ import annotations

from connexion import request

from app import errors
from app.resources import etag


def _tags(header: str) -> set[str]:
    # Weak comparison (RFC 7232 §2.3.2): W/"3" and "3" name the same version.
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def check_if_match(version: int) -> None:
    """For PUT, PATCH and DELETE: a stale If-Match is 412 and nothing changes."""
    header = request.headers.get("if-match")
    if header is None:
        return
    tags = _tags(header)
    if "*" not in tags and etag(version).removeprefix("W/") not in tags:
        raise errors.PreconditionFailed(
            f"If-Match {header} does not match the current version {etag(version)}"
        )


def not_modified(version: int) -> bool:
    """For GET: whether If-None-Match names the current version (answer 304)."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or etag(version).removeprefix("W/") in tags
