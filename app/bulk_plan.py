"""A BulkRequest (RFC 7644 §3.7) read into operations, their bulkId references resolved, and the
order to run them in. Pure: no HTTP, no database.

Every POST gets the id of the resource it will create now, before anything runs, so a
`"bulkId:<id>"` reference anywhere in an operation's `data` or `path` (RFC 7644 §3.7.2) is
replaced by that id at once. What is left for run time is the order: a POST runs before every
operation that refers to it, and an operation whose POST failed fails with 409.

A problem found here (a bad path, a missing bulkId, an unknown or circular reference) belongs
to its operation, not to the request: it is kept on the operation and reported when the
operation's turn comes, so `failOnErrors` counts it where it stands.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from app import errors
from app.resources import RESOURCE_TYPES, ResourceType

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
PREFIX = "bulkId:"
# A JSON string value (not an object key: orjson writes no space before the colon) that is a
# whole `bulkId:<id>` reference.
_REFERENCE = re.compile(rb'"bulkId:((?:[^"\\]|\\.)*)"(?!:)')
_ENDPOINTS = {t.endpoint: t for t in RESOURCE_TYPES.values()}


@dataclass
class Operation:
    """One operation of the request, with its target and the POSTs it refers to."""

    index: int
    method: str  # POST, PUT, PATCH or DELETE (the spec allows no other)
    bulk_id: str | None
    version: str | None
    data: Any
    resource_type: ResourceType | None = None
    resource_id: str | None = None  # the target, or for a POST the id it will create
    refers_to: list[str] = field(default_factory=list)  # bulkIds, as written
    error: errors.ScimError | None = None  # found while planning, reported at its turn


@dataclass
class Plan:
    """The operations in request order, and the order to run them in (their indexes)."""

    operations: list[Operation]
    order: list[int]
    fail_on_errors: int | None
    posts: dict[str, Operation]  # the POST of each bulkId that names exactly one POST


def read(body: dict[str, Any], max_operations: int) -> Plan:
    """The plan for a BulkRequest body (already shaped by the spec); 400 or 413 for the whole."""
    if body.get("schemas") != [BULK_REQUEST]:
        # RFC 7644 §3.7: the request's schemas is the BulkRequest URI.
        raise errors.InvalidSyntax(f'schemas must be ["{BULK_REQUEST}"]')
    raw = body["Operations"]
    if len(raw) > max_operations:
        # RFC 7644 §3.7.4: over a limit is 413, with a detail that names it.
        raise errors.PayloadTooLarge(
            f"The number of operations ({len(raw)}) exceeds the maxOperations ({max_operations})."
        )
    operations = [_operation(n, item) for n, item in enumerate(raw)]
    posts = _posts(operations)
    for operation in operations:
        _resolve(operation, posts)
    return Plan(operations, _order(operations, posts), body.get("failOnErrors"), posts)


def _operation(index: int, raw: dict[str, Any]) -> Operation:
    method = raw["method"]
    operation = Operation(index, method, raw.get("bulkId"), raw.get("version"), raw.get("data"))
    try:
        operation.resource_type, operation.resource_id = _target(method, raw["path"])
        if method == "POST":
            if operation.bulk_id is None:
                raise errors.InvalidSyntax("bulkId is required for POST (RFC 7644 §3.7)")
            operation.resource_id = str(uuid.uuid4())
        if method != "DELETE" and "data" not in raw:
            raise errors.InvalidSyntax(f"data is required for {method}")
    except errors.ScimError as exc:
        operation.error = exc
    return operation


def _target(method: str, path: str) -> tuple[ResourceType, str | None]:
    """The resource type and id a path names, answered as the single request would be."""
    endpoint, _, resource_id = path.removeprefix("/").partition("/")
    resource_type = _ENDPOINTS.get("/" + endpoint) if path.startswith("/") else None
    if resource_type is None or "/" in resource_id or (not resource_id and path.endswith("/")):
        raise errors.NotFound(f"No resource at {path}")
    if (method == "POST") != (not resource_id):
        raise errors.ScimError(f"Method {method} is not allowed on {path}", status=405)
    return resource_type, resource_id or None


def _posts(operations: list[Operation]) -> dict[str, Operation]:
    """The POST of each bulkId; POSTs that share a bulkId all fail (a reference would be
    ambiguous)."""
    by_bulk_id: dict[str, list[Operation]] = {}
    for operation in operations:
        if operation.method == "POST" and operation.bulk_id is not None:
            by_bulk_id.setdefault(operation.bulk_id, []).append(operation)
    for bulk_id, found in by_bulk_id.items():
        if len(found) > 1:
            for operation in found:
                operation.error = operation.error or errors.InvalidValue(
                    f"bulkId {bulk_id!r} is used by {len(found)} POST operations; it must be unique"
                )
    return {bulk_id: found[0] for bulk_id, found in by_bulk_id.items() if len(found) == 1}


def _resolve(operation: Operation, posts: dict[str, Operation]) -> None:
    """Replace `bulkId:<id>` references in data and path with the ids the POSTs will create."""
    unknown: list[str] = []

    def replace(bulk_id: str) -> str | None:
        operation.refers_to.append(bulk_id)
        post = posts.get(bulk_id)
        if post is None or post.resource_id is None:
            unknown.append(bulk_id)
            return None
        return post.resource_id

    if operation.resource_id is not None and operation.resource_id.startswith(PREFIX):
        found = replace(operation.resource_id.removeprefix(PREFIX))
        operation.resource_id = found or operation.resource_id
    if operation.data is not None and operation.method != "DELETE":
        operation.data = _substitute(operation.data, replace)
    if unknown and operation.error is None:
        names = ", ".join(repr(u) for u in dict.fromkeys(unknown))
        operation.error = errors.ScimError(
            f"bulkId {names} names no POST of this request that can be referred to", status=409
        )


def _substitute(data: Any, replace: Any) -> Any:
    """The data with every whole-string `bulkId:<id>` value replaced (unknown ones kept)."""
    text = orjson.dumps(data)
    if b'"' + PREFIX.encode() not in text:
        return data

    def one(match: re.Match[bytes]) -> bytes:
        bulk_id = orjson.loads(b'"' + match.group(1) + b'"')
        found = replace(bulk_id)
        return orjson.dumps(found) if found is not None else match.group(0)

    return orjson.loads(_REFERENCE.sub(one, text))


def _order(operations: list[Operation], posts: dict[str, Operation]) -> list[int]:
    """Request order, except that a POST runs before the operations that refer to it.

    A depth-first walk (with its own stack: a chain of references can be as long as
    maxOperations). An operation met again while it is still on the walk's stack closes a
    cycle: RFC 7644 §3.7.1 lets a server stop there with 409, and this one does, for every
    operation of the cycle; the ones that refer to them fail with 409 too, at run time.
    """
    done: set[int] = set()
    order: list[int] = []
    for start in operations:
        if start.index in done:
            continue
        stack = [(start, iter(_dependencies(start, posts)))]
        depth = {start.index: 0}  # where each operation on the stack is
        while stack:
            operation, dependencies = stack[-1]
            dependency = next(dependencies, None)
            if dependency is None:
                stack.pop()
                del depth[operation.index]
                done.add(operation.index)
                order.append(operation.index)
            elif dependency.index in depth:
                for member, _ in stack[depth[dependency.index] :]:
                    member.error = member.error or _circular(member)
            elif dependency.index not in done:
                depth[dependency.index] = len(stack)
                stack.append((dependency, iter(_dependencies(dependency, posts))))
    return order


def _dependencies(operation: Operation, posts: dict[str, Operation]) -> list[Operation]:
    return [posts[b] for b in dict.fromkeys(operation.refers_to) if b in posts]


def _circular(operation: Operation) -> errors.ScimError:
    name = f"bulkId {operation.bulk_id!r}" if operation.bulk_id else f"operation {operation.index}"
    return errors.ScimError(
        f"{name} is part of a circular bulkId reference, which this server does not resolve",
        status=409,
    )
