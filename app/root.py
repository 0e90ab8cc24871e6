"""Handlers for the root of the service: every resource type queried at once (RFC 7644 §3.4.2.1,
§3.4.3)."""

from __future__ import annotations

from typing import Any

from app import listing
from app.rendering import Response


async def search(
    filter_: str | None = None,
    start_index: int | None = None,
    count: int | None = None,
    attributes: str | None = None,
    excluded_attributes: str | None = None,
    sort_by: str | None = None,
    sort_order: str | None = None,
) -> Response:
    """RFC 7644 §3.4.2.1: query users and groups together, from the root."""
    wanted = listing.Query(
        filter_, start_index, count, attributes, excluded_attributes, sort_by, sort_order
    )
    return listing.search_all(wanted), 200, {}


async def search_post(body: dict[str, Any]) -> Response:
    """RFC 7644 §3.4.3: the same query, its parameters in a SearchRequest body."""
    return listing.search_all(listing.Query.from_body(body)), 200, {}
