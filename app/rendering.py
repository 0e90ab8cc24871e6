"""Stored rows to the JSON a client receives: resources with meta, ListResponses, headers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connexion import request

from app import config, spec, store
from app.resources import GROUP, USER, ResourceType, etag, meta, to_scim
from app.selection import Selection, project

LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def base_url() -> str:
    """The absolute URL of the SCIM root, from SCIM_BASE_URL or the request's own host."""
    configured = config.get().base_url
    if configured:
        return configured.rstrip("/")
    url = request.url
    return f"{url.scheme}://{url.netloc}{spec.base_path()}"


def users(rows: Sequence[store.Row], selection: Selection) -> list[dict[str, Any]]:
    """Users as SCIM resources; `groups` is read from the membership table only when wanted."""
    base = base_url()
    memberships = store.groups_of([r.id for r in rows]) if selection.wants("groups") else {}
    out = []
    for row in rows:
        extra = {}
        if memberships.get(row.id):
            extra["groups"] = [
                {"value": gid, "display": name, "$ref": f"{base}/Groups/{gid}", "type": "direct"}
                for gid, name in memberships[row.id]
            ]
        resource = to_scim(USER, row.id, row.resource, _meta(USER, row, base), extra)
        out.append(project(USER, resource, selection))
    return out


def groups(rows: Sequence[store.Row], selection: Selection) -> list[dict[str, Any]]:
    """Groups as SCIM resources; members are read only when wanted (they can be 100,000s)."""
    base = base_url()
    members = store.members_of([r.id for r in rows]) if selection.wants("members") else {}
    out = []
    for row in rows:
        extra = {}
        if members.get(row.id):
            extra["members"] = [
                {
                    "value": m.value,
                    "display": m.display,
                    "$ref": f"{base}/Users/{m.value}",
                    "type": "User",
                }
                for m in members[row.id]
            ]
        resource = to_scim(GROUP, row.id, row.resource, _meta(GROUP, row, base), extra)
        out.append(project(GROUP, resource, selection))
    return out


def _meta(resource_type: ResourceType, row: store.Row, base: str) -> dict[str, str]:
    return meta(resource_type, row.id, row.version, row.created, row.last_modified, base)


def headers(resource_type: ResourceType, row: store.Row, created: bool = False) -> dict[str, str]:
    """ETag for every resource response; Location too for a 201 (RFC 7644 §3.3)."""
    found = {"ETag": etag(row.version)}
    if created:
        found["Location"] = f"{base_url()}{resource_type.endpoint}/{row.id}"
    return found


def list_response(resources: list[dict[str, Any]], total: int, start_index: int) -> dict[str, Any]:
    """A ListResponse (RFC 7644 §3.4.2); itemsPerPage is the number actually returned."""
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }
