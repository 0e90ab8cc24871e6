"""Queries over /Users, /Groups and the root (RFC 7644 §3.4.2, §3.4.3): filter, sort, page."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import orjson

from app import config, dialect, errors, filters, query, rendering, store
from app.resources import GROUP, RESOURCE_TYPES, USER, Registry, ResourceType, registry
from app.selection import parse_selection


@dataclass(frozen=True)
class Query:
    """The query parameters of a GET, or the members of a SearchRequest body."""

    filter: str | None = None
    start_index: int | None = None
    count: int | None = None
    attributes: str | None = None
    excluded_attributes: str | None = None
    sort_by: str | None = None
    sort_order: str | None = None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Query:
        """A SearchRequest (RFC 7644 §3.4.3): attribute lists become comma-separated text."""

        def joined(name: str) -> str | None:
            values = body.get(name)
            return ",".join(values) if values else None

        return cls(body.get("filter"), body.get("startIndex"), body.get("count"),
                   joined("attributes"), joined("excludedAttributes"),
                   body.get("sortBy"), body.get("sortOrder"))  # fmt: skip

    def page(self) -> tuple[int, int]:
        """(startIndex, page size): below 1 means 1, a negative count 0, capped at maxResults."""
        settings = config.get()
        start = max(self.start_index or 1, 1)
        if self.count is None:
            return start, settings.default_count
        return start, min(max(self.count, 0), settings.max_results)


def search(resource_type: ResourceType, wanted: Query) -> dict[str, Any]:
    """One page of matching resources of one type as a ListResponse."""
    start, size = wanted.page()
    total, rows = _plan(resource_type, wanted)(size, start - 1)
    selection = parse_selection(resource_type, wanted.attributes, wanted.excluded_attributes)
    return rendering.list_response(rendering.listed(resource_type, rows, selection), total, start)


def search_all(wanted: Query) -> dict[str, Any]:
    """Users, then groups, paged as one list (RFC 7644 §3.4.3, search from the root).

    Sorting applies within each type. A filter naming an attribute one type lacks selects none
    of that type; if no type knows it, the first type's invalidFilter is raised.
    """
    start, size = wanted.page()
    plans = []
    failure: errors.ScimError | None = None
    for resource_type in (USER, GROUP):
        try:
            plans.append((resource_type, _plan(resource_type, wanted)))
        except errors.InvalidFilter as exc:
            failure = failure or exc
    if not plans and failure is not None:
        raise failure
    resources: list[Any] = []
    total = 0
    offset = start - 1
    for resource_type, plan in plans:
        room = size - len(resources)
        count, rows = plan(room, max(offset - total, 0))
        total += count
        selection = parse_selection(resource_type, wanted.attributes, wanted.excluded_attributes)
        resources += rendering.listed(resource_type, rows, selection)
    return rendering.list_response(resources, total, start)


def _plan(
    resource_type: ResourceType, wanted: Query
) -> Callable[[int, int], tuple[int, list[store.Row]]]:
    """Compile once (raising on a bad filter or sortBy); the result runs (limit, offset)."""
    key = (dialect.current().name, registry(), resource_type.name)
    where, params, order = _equality(
        *key, wanted.filter, wanted.sort_by, wanted.sort_order
    ) or _compiled(*key, wanted.filter, wanted.sort_by, wanted.sort_order)

    def run(limit: int, offset: int) -> tuple[int, list[store.Row]]:
        return store.search(resource_type, where, params, order, limit, offset)

    return run


@lru_cache(maxsize=1024)
def _compiled(
    sql_dialect: str,
    schemas: Registry,
    type_name: str,
    filter_text: str | None,
    sort_by: str | None,
    sort_order: str | None,
) -> tuple[str | None, Mapping[str, Any], str | None]:
    """(WHERE, parameters, ORDER BY) for a query; the same lookup recurs on every Okta push.

    The Registry in force is part of the key: declared attributes change what a filter means;
    so is the SQL dialect (app/dialect.py), which query.compile reads.
    """
    node = filters.parse(filter_text) if filter_text and filter_text.strip() else None
    compiled = query.compile(RESOURCE_TYPES[type_name], node, sort_by, sort_order)
    return compiled.where, MappingProxyType(compiled.params), compiled.order_by


# `attribute eq "text"`: how Okta looks up every user it assigns (userName), Entra too
# (externalId); each lookup names another user, so its text seldom recurs for _compiled.
_EQUALITY = re.compile(r'\s*([A-Za-z][\w-]*)\s+eq\s+("(?:[^"\\]|\\.)*")\s*', re.IGNORECASE)
_PROBES = ("ProbeOne", "ProbeTwo")


def _equality(
    sql_dialect: str,
    schemas: Registry,
    type_name: str,
    filter_text: str | None,
    sort_by: str | None,
    sort_order: str | None,
) -> tuple[str | None, Mapping[str, Any], str | None] | None:
    """_compiled's answer for an `attribute eq "text"` filter, from the query compiled once
    for that attribute with the text bound as it would bind it; None for any other filter."""
    matched = _EQUALITY.fullmatch(filter_text) if filter_text else None
    if matched is None:
        return None
    template = _equality_template(
        sql_dialect, schemas, type_name, matched[1].lower(), sort_by, sort_order
    )
    if template is None:
        return None
    try:  # as the filter parser reads a string (app/filters.py), or not at all: orjson
        text = orjson.loads(matched[2])  # refuses lone surrogates the standard library takes
    except orjson.JSONDecodeError:
        return None
    where, params, order, name, fold = template
    return where, MappingProxyType({**params, name: text.casefold() if fold else text}), order


@lru_cache(maxsize=256)
def _equality_template(
    sql_dialect: str,
    schemas: Registry,
    type_name: str,
    attribute: str,
    sort_by: str | None,
    sort_order: str | None,
) -> tuple[str | None, Mapping[str, Any], str | None, str, bool] | None:
    """For `<attribute> eq "..."`: the query, its other parameters, the parameter that takes
    the text and whether it takes it case-folded. None unless the attribute is a single-valued
    text attribute whose query is the same for any text but for that one parameter (two
    different texts compiled show it); such a filter then goes through _compiled."""
    try:
        found = RESOURCE_TYPES[type_name].resolve(filters.parse_path(attribute))
        if found is None or found[2] is not None or found[1].multi_valued:
            return None
        if found[1].type not in ("string", "reference"):
            return None
        compiled = [
            _compiled.__wrapped__(
                sql_dialect, schemas, type_name, f'{attribute} eq "{probe}"', sort_by, sort_order
            )
            for probe in _PROBES
        ]
    except errors.ScimError:
        return None
    (where, params, order), (other_where, other_params, other_order) = compiled
    if where != other_where or order != other_order or params.keys() != other_params.keys():
        return None
    constant = {k: v for k, v in params.items() if other_params[k] == v}
    taking = [k for k in params if k not in constant]
    if len(taking) != 1:
        return None
    name = taking[0]
    for fold in (False, True):
        expected = [probe.casefold() if fold else probe for probe in _PROBES]
        if [params[name], other_params[name]] == expected:
            return where, MappingProxyType(constant), order, name, fold
    return None
