"""GET /Users and GET /Groups: filter, sort and page (RFC 7644 §3.4.2)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from app import config, filters, query, rendering, store
from app.resources import ResourceType, Selection, parse_selection

Renderer = Callable[[Sequence[store.Row], Selection], list[dict[str, Any]]]


def search(
    resource_type: ResourceType,
    render: Renderer,
    filter_text: str | None,
    start_index: int | None,
    count: int | None,
    attributes: str | None,
    excluded_attributes: str | None,
    sort_by: str | None,
    sort_order: str | None,
) -> dict[str, Any]:
    """One page of matching resources as a ListResponse."""
    settings = config.get()
    selection = parse_selection(resource_type, attributes, excluded_attributes)
    node = filters.parse(filter_text) if filter_text and filter_text.strip() else None
    table = "users" if resource_type.name == "User" else "groups"
    where = query.compile_filter(resource_type, node, table)
    order = query.compile_sort(resource_type, sort_by, sort_order, table, where.params)
    # RFC 7644 §3.4.2.4: startIndex below 1 means 1; a negative count means 0.
    start = max(start_index or 1, 1)
    size = settings.default_count if count is None else min(max(count, 0), settings.max_results)
    total, rows = store.search(resource_type.name, where.sql, where.params, order, size, start - 1)
    return rendering.list_response(render(rows, selection), total, start)
