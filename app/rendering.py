"""Stored rows to the JSON a client receives: resources with meta, ListResponses, headers."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from contextvars import ContextVar
from functools import partial
from typing import Any

import orjson
from connexion import request

from app import config, members, spec, store, tenancy
from app.resources import GROUP, USER, ResourceType, etag, meta, registry, schemas_of, to_scim
from app.selection import (
    Selection,
    extensions_projected,
    parse_selection,
    project,
    returned_rules,
)

LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
# What a handler returns to Connexion: (body, status, headers).
Response = tuple[Any, int, dict[str, str]]


# `scheme://host` of the request being served, set by app/middleware.py from its scope (the
# headers it reads anyway): cheaper than Starlette's `request.url`, which parses the scope.
_origin: ContextVar[str | None] = ContextVar("origin", default=None)


def enter_origin(origin: str) -> None:
    """The request's `scheme://host[:port]`, for base_url (app/middleware.py calls this)."""
    _origin.set(origin)


def base_url() -> str:
    """The absolute URL of this request's SCIM root (its tenant's), from SCIM_BASE_URL or the
    request's own host."""
    prefix = tenancy.current().url_prefix  # `/tenants/<name>` on a tenant's URL
    configured = config.get().base_url
    if configured:
        return configured.rstrip("/") + prefix
    origin = _origin.get()
    if origin is None:  # a request that did not pass app/middleware.py
        url = request.url
        origin = f"{url.scheme}://{url.netloc}"
    return f"{origin}{spec.base_path()}{prefix}"


def resources(
    resource_type: ResourceType, rows: Sequence[store.Row], selection: Selection
) -> list[dict[str, Any]]:
    """Rows as SCIM resources; a user's `groups` and a group's `members` are read from the
    membership table only when the selection wants them (a group can have 100,000s)."""
    base = base_url()
    related = _related(resource_type, rows, selection, base)
    out = []
    for row in rows:
        row_meta = meta(resource_type, row.id, row.version, row.created, row.last_modified, base)
        resource = to_scim(resource_type, row.id, row.resource, row_meta, related.get(row.id))
        out.append(project(resource_type, resource, selection))
    return out


def listed(
    resource_type: ResourceType, rows: Sequence[store.Row], selection: Selection
) -> list[Any]:
    """Rows as the Resources of a ListResponse. Where the selection and the declared `returned`
    rules leave a resource whole, it is spliced from its stored JSON text (an orjson.Fragment)
    instead of parsed and serialised again, its `meta` written as text and each related group
    (or member) written once per page: the same JSON as resources() gives, at a fraction of the
    cost for a page of 100. Only a resource with an extension object is parsed, for `schemas`."""
    schemas = registry()
    rules = returned_rules(schemas, resource_type.name) if schemas.declared else {}
    if not _whole(selection, rules):
        return resources(resource_type, rows, selection)
    base = base_url()
    related = _related_text(resource_type, rows, selection, base)
    core = f'{{"schemas":{orjson.dumps([resource_type.schema]).decode()},"id":'
    kind = orjson.dumps(resource_type.name).decode()
    location = orjson.dumps(f"{base}{resource_type.endpoint}/").decode()[:-1]  # open string
    out: list[Any] = []
    for row in rows:
        head, extra, body = core, related.get(row.id), row.stored[1:-1]
        if '"urn:' in row.stored:  # perhaps an extension object, which `schemas` must list
            resource = row.resource
            head = f'{{"schemas":{orjson.dumps(schemas_of(resource_type, resource)).decode()},"id":'
            if any(urn in resource for urn in rules):  # a declared extension's `returned`
                body = orjson.dumps(extensions_projected(resource, selection, rules)).decode()[1:-1]
        rid = orjson.dumps(row.id).decode()
        text = (
            f"{head}{rid},{body + ',' if body else ''}{extra + ',' if extra else ''}"
            f'"meta":{{"resourceType":{kind},"created":{orjson.dumps(row.created).decode()},'
            f'"lastModified":{orjson.dumps(row.last_modified).decode()},'
            f'"location":{location}{rid[1:]},"version":"W/\\"{row.version}\\""}}}}'
        )
        out.append(orjson.Fragment(text))
    return out


def _related_text(
    resource_type: ResourceType, rows: Sequence[store.Row], selection: Selection, base: str
) -> dict[str, str]:
    """What _related gives, as JSON text (`"groups":[...]`), each related object written once
    per page (the users of a page share a few groups)."""
    found = _relations(resource_type, rows, selection, base)
    if found is None:
        return {}
    name, related, render = found
    written: dict[Hashable, str] = {}
    out: dict[str, str] = {}
    for owner, items in related.items():
        if items:
            parts = []
            for item in items:
                text = written.get(item)
                if text is None:
                    text = written[item] = orjson.dumps(render(item)).decode()
                parts.append(text)
            out[owner] = f'"{name}":[{",".join(parts)}]'
    return out


def _whole(selection: Selection, rules: Mapping[str | None, Any]) -> bool:
    """Whether project() would return any resource without an extension object as it is, under
    the resource type's declared `returned` rules."""
    plain = not (selection.restricted or selection.exclude or selection.excluded_extensions)
    return plain and None not in rules


def _related(
    resource_type: ResourceType, rows: Sequence[store.Row], selection: Selection, base: str
) -> dict[str, dict[str, Any]]:
    """Per row id, the attributes read from the membership table: `groups` or `members`."""
    found = _relations(resource_type, rows, selection, base)
    if found is None:
        return {}
    name, related, render = found
    return {owner: {name: [render(i) for i in items]} for owner, items in related.items() if items}


def _relations(
    resource_type: ResourceType, rows: Sequence[store.Row], selection: Selection, base: str
) -> tuple[str, Mapping[str, Sequence[Hashable]], Callable[[Any], dict[str, Any]]] | None:
    """What the rows relate to through the membership table, read in one statement (a group
    can have 100,000s of members: only when the selection wants them): the attribute, per row
    id its related items, and how one item is rendered. None when none is wanted."""
    ids = [r.id for r in rows]
    if resource_type is USER and selection.wants("groups"):
        return "groups", members.groups_of(ids), partial(_group, base)
    if resource_type is GROUP and selection.wants("members"):
        return "members", members.members_of(ids), partial(_member, base)
    return None


def _group(base: str, group: tuple[str, str]) -> dict[str, str]:
    group_id, name = group
    return {
        "value": group_id,
        "display": name,
        "$ref": f"{base}/Groups/{group_id}",
        "type": "direct",
    }


def _member(base: str, member: members.Member) -> dict[str, Any]:
    return {
        "value": member.value,
        "display": member.display,
        "$ref": f"{base}/Users/{member.value}",
        "type": "User",
    }


def one(
    resource_type: ResourceType,
    row: store.Row,
    attributes: str | None,
    excluded: str | None,
    status: int = 200,
) -> Response:
    """A single resource as a handler's response, with its ETag (and Location on 201)."""
    selection = parse_selection(resource_type, attributes, excluded)
    resource = resources(resource_type, [row], selection)[0]
    return resource, status, headers(resource_type, row, created=status == 201)


def headers(resource_type: ResourceType, row: store.Row, created: bool = False) -> dict[str, str]:
    """ETag for every resource response; Location too for a 201 (RFC 7644 §3.3)."""
    found = {"ETag": etag(row.version)}
    if created:
        found["Location"] = f"{base_url()}{resource_type.endpoint}/{row.id}"
    return found


def list_response(found: list[dict[str, Any]], total: int, start_index: int) -> dict[str, Any]:
    """A ListResponse (RFC 7644 §3.4.2); itemsPerPage is the number actually returned."""
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": len(found),
        "Resources": found,
    }
