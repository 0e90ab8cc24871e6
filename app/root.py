"""Handlers for the root of the service (RFC 7644 §3.4.3: searching every resource type at once)."""

from __future__ import annotations

from typing import Any

from app import listing
from app.rendering import Response


async def search(body: dict[str, Any]) -> Response:
    """RFC 7644 §3.4.3: search users and groups together, from the root."""
    return listing.search_all(listing.Query.from_body(body)), 200, {}
