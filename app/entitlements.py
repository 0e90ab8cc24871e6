"""Read-only resource types declared in SCIM_SCHEMAS_DIR: Okta Identity Governance's
entitlements and roles, or any other list the vendor's app supplies (RFC 7644 §3.4).

Each such resource type has two GET paths in the published spec (app/published.py), whose
operationIds are `app.entitlements.search_<name>` and `get_<name>`: this module answers them
with `search` and `get` (`__getattr__`), and the request path tells which type is meant.
Other methods are 405: the paths have no other operations. The records come from a file the
vendor's app writes (app/records.py). Okta reads /ResourceTypes, /Schemas, then pages through
each endpoint (tests/exchanges/okta/entitlements.json).
"""

from __future__ import annotations

from typing import Any

import connexion

from app import checks, errors, filters, listing, records, rendering, spec
from app.evaluate import resource_matches
from app.rendering import Response
from app.resources import ResourceType, registry
from app.selection import parse_selection, project


async def search(
    filter_: str | None = None,
    start_index: int | None = None,
    count: int | None = None,
    attributes: str | None = None,
    excluded_attributes: str | None = None,
) -> Response:
    """RFC 7644 §3.4.2: a read-only resource type's records, filtered and paged."""
    resource_type = _resource_type()
    wanted = listing.Query(filter_, start_index, count, attributes, excluded_attributes)
    start, size = wanted.page()
    matching = _matching(resource_type, filter_)
    selection = parse_selection(resource_type, attributes, excluded_attributes)
    page = [project(resource_type, r, selection) for r in matching[start - 1 : start - 1 + size]]
    return rendering.list_response(page, len(matching), start), 200, {}


async def get(
    record_id: str, attributes: str | None = None, excluded_attributes: str | None = None
) -> Response:
    """RFC 7644 §3.4.1: one record by id."""
    resource_type = _resource_type()
    found = records.records(resource_type).by_id.get(record_id)
    if found is None:
        raise errors.NotFound(f"{resource_type.name} {record_id} not found")
    selection = parse_selection(resource_type, attributes, excluded_attributes)
    return project(resource_type, _scim(resource_type, found), selection), 200, {}


def __getattr__(name: str) -> Any:
    """`search_<name>` and `get_<name>`, the operationIds of each read-only resource type."""
    verb, _, type_name = name.partition("_")
    if type_name and verb in ("search", "get"):
        return {"search": search, "get": get}[verb]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _resource_type() -> ResourceType:
    """The resource type whose endpoint the request path is under."""
    path = connexion.request.url.path[len(spec.base_path()) :]
    endpoint = "/" + path.strip("/").split("/")[0]
    for resource_type in registry().catalogs.values():
        if resource_type.endpoint == endpoint:
            return resource_type
    raise errors.NotFound(f"No resource at {connexion.request.url.path}")


def _matching(resource_type: ResourceType, text: str | None) -> list[dict[str, Any]]:
    """Every record as SCIM, or those a filter matches (the reference evaluator decides)."""
    found = [_scim(resource_type, r) for r in records.records(resource_type).resources]
    if not text or not text.strip():
        return found
    checked = checks.check(resource_type, filters.parse(text))
    return [r for r in found if resource_matches(checked, r)]


def _scim(resource_type: ResourceType, record: dict[str, Any]) -> dict[str, Any]:
    location = f"{rendering.base_url()}{resource_type.endpoint}/{record['id']}"
    return {
        "schemas": [resource_type.schema],
        **record,
        "meta": {"resourceType": resource_type.name, "location": location},
    }
