"""POST /Bulk (RFC 7644 §3.7): many operations in one request, each answered on its own.

Each operation does what the single request it stands for does, through the same functions of
app/users.py and app/groups.py: the same checks of its data, the same uniqueness 409, the same
PATCH engine, the same password hashing, the same versions. app/bulk_plan.py reads the request,
resolves `bulkId` references and decides the order; this module checks each operation's data,
hashes the passwords, runs the operations and answers.

Transactions: the whole bulk runs in one write transaction (`database.write()`), and each
operation in a SAVEPOINT of it, released when the operation succeeds and rolled back to when it
fails. So an operation is applied whole or not at all; a failed one leaves the others applied
(RFC 7644 §3.7: the server "MUST continue performing as many changes as possible and
disregard partial failures"); and the bulk pays for one commit instead of one per operation,
which is most of what makes 100 creates in one bulk cheaper than 100 POSTs. The price is that
the bulk holds the writers' lock (every worker's) from its first operation to its last: other
writes wait for it. maxOperations (SCIM_BULK_MAX_OPERATIONS) bounds that wait, and everything
slow happens before the lock is taken: the checks of each operation's data and the password
hashes (scrypt). An exception that is not a SCIM error (a bug) rolls the whole bulk back and is
answered 500, so nothing is half-applied that way either.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import connexion

from app import (
    bulk_plan,
    config,
    database,
    errors,
    events,
    groups,
    passwords,
    preconditions,
    rendering,
    spec,
    store,
    users,
    values,
)
from app.bulk_plan import Operation, Plan
from app.membership import member_ids, split
from app.operations import parse_operations
from app.rendering import Response
from app.resources import GROUP, USER, etag

BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
# An operation's writes, given the open connection and the hashes of the bulk's passwords:
# the row written (None for a DELETE) and the status the single request would answer.
Write = Callable[[sqlite3.Connection, dict[str, str]], tuple[store.Row | None, int]]


@dataclass
class Step:
    """An operation checked and ready to run, and the passwords to hash for it first."""

    write: Write
    passwords: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """What running an operation came to."""

    status: int
    row: store.Row | None = None
    error: errors.ScimError | None = None


async def post(body: dict[str, Any]) -> Response:
    """RFC 7644 §3.7: run a BulkRequest's operations; a BulkResponse answers each one."""
    settings = config.get()
    _check_size(settings.bulk_payload_limit)
    plan = bulk_plan.read(body, settings.bulk_max_operations)
    steps = {op.index: step for op in plan.operations if (step := _prepare(op)) is not None}
    hashes = await passwords.hash_all(p for step in steps.values() for p in step.passwords)
    async with database.write() as conn:
        outcomes = _run(conn, plan, steps, hashes)
    base = rendering.base_url()
    answers = [_answer(plan.operations[n], outcomes[n], base) for n in sorted(outcomes)]
    return {"schemas": [BULK_RESPONSE], "Operations": answers}, 200, {}


def _check_size(limit: int) -> None:
    # RFC 7644 §3.7.4: a body over maxPayloadSize is 413, with a detail that names the limit.
    # The middleware has already refused anything over SCIM_MAX_BODY_BYTES.
    length = connexion.request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise errors.PayloadTooLarge(
            f"The size of the bulk operation ({length} bytes) exceeds the maxPayloadSize ({limit})."
        )


# --- before the transaction: each operation's data checked as its single request's body ---


def _prepare(operation: Operation) -> Step | None:
    """The operation's Step, or None with `operation.error` set (reported at its turn)."""
    if operation.error is not None:
        return None
    assert operation.resource_type is not None and operation.resource_id is not None
    kind = (operation.resource_type.name, operation.method)
    try:
        return _PREPARE[kind](operation, operation.resource_id)
    except errors.ScimError as exc:
        operation.error = exc
        return None


def _expected(operation: Operation) -> store.Expected:
    # RFC 7644 §3.7: an operation's `version` is its If-Match (RFC 7644 §3.14).
    return None if operation.version is None else preconditions.versions(operation.version)


def _body(operation: Operation, component: str) -> dict[str, Any]:
    # The spec leaves `data` open; Connexion would hold a single request's body to this.
    spec.check(component, operation.data)
    data: dict[str, Any] = operation.data
    return data


def _user_write(operation: Operation, user_id: str) -> Step:
    data = _body(operation, "UserIn")
    stored = users.stored_form(data)
    password = data.get("password") or None
    expected = _expected(operation)

    def write(conn: sqlite3.Connection, hashes: dict[str, str]) -> tuple[store.Row, int]:
        password_hash = hashes[password] if password else None
        if operation.method == "POST":
            row = store.insert(conn, USER, user_id, stored, password_hash)
            events.created(conn, USER, row)
            return row, 201
        kept = values.kept_write_only(USER, user_id, stored)  # as users.replace does
        was = events.before(USER, user_id)
        row = store.update(conn, USER, user_id, kept, expected, password_hash)
        events.replaced(conn, USER, row, data, was)
        return row, 200

    return Step(write, [password] if password else [])


def _user_patch(operation: Operation, user_id: str) -> Step:
    operations = parse_operations(USER, _body(operation, "PatchOp")["Operations"])
    expected = _expected(operation)

    def write(conn: sqlite3.Connection, hashes: dict[str, str]) -> tuple[store.Row, int]:
        was = events.before(USER, user_id)
        row = users.write_patch(conn, user_id, operations, expected, hashes)
        events.patched(conn, USER, row, operation.data, was)
        return row, 200

    return Step(write, users.patch_passwords(operations))


def _group_write(operation: Operation, group_id: str) -> Step:
    data = _body(operation, "GroupIn")
    stored = groups.stored_form(data)
    ids = member_ids(data.get("members"))
    expected = _expected(operation)

    def write(conn: sqlite3.Connection, _: dict[str, str]) -> tuple[store.Row, int]:
        if operation.method == "POST":
            row = groups.write_create(conn, group_id, stored, ids)
            events.created(conn, GROUP, row, ids)
            return row, 201
        was = events.before(GROUP, group_id)
        row = groups.write_replace(conn, group_id, stored, ids, expected)
        events.replaced(conn, GROUP, row, data, was)
        return row, 200

    return Step(write)


def _group_patch(operation: Operation, group_id: str) -> Step:
    others, changes = split(parse_operations(GROUP, _body(operation, "PatchOp")["Operations"]))
    expected = _expected(operation)

    def write(conn: sqlite3.Connection, _: dict[str, str]) -> tuple[store.Row, int]:
        row = groups.write_patch(conn, group_id, others, changes, expected)
        events.patched(conn, GROUP, row, operation.data, None)
        return row, groups.patch_status(group_id, selected=False)

    return Step(write)


def _delete(operation: Operation, resource_id: str) -> Step:
    resource_type, expected = operation.resource_type, _expected(operation)
    assert resource_type is not None

    def write(conn: sqlite3.Connection, _: dict[str, str]) -> tuple[None, int]:
        events.deleted(
            conn, resource_type, store.delete(conn, resource_type, resource_id, expected)
        )
        return None, 204

    return Step(write)


_PREPARE: dict[tuple[str, str], Callable[[Operation, str], Step]] = {
    ("User", "POST"): _user_write,
    ("User", "PUT"): _user_write,
    ("User", "PATCH"): _user_patch,
    ("User", "DELETE"): _delete,
    ("Group", "POST"): _group_write,
    ("Group", "PUT"): _group_write,
    ("Group", "PATCH"): _group_patch,
    ("Group", "DELETE"): _delete,
}


# --- inside the transaction: nothing awaited ---------------------------------------------


def _run(
    conn: sqlite3.Connection, plan: Plan, steps: dict[int, Step], hashes: dict[str, str]
) -> dict[int, Outcome]:
    """Run the operations in the plan's order; stop once failOnErrors of them have failed."""
    outcomes: dict[int, Outcome] = {}
    failures = 0
    for index in plan.order:
        outcome = _run_one(conn, plan, plan.operations[index], steps.get(index), hashes, outcomes)
        outcomes[index] = outcome
        failures += outcome.error is not None
        # RFC 7644 §3.7.3: stop after failOnErrors errors; the response lists what was done.
        if plan.fail_on_errors is not None and failures >= plan.fail_on_errors:
            break
    return outcomes


def _run_one(
    conn: sqlite3.Connection,
    plan: Plan,
    operation: Operation,
    step: Step | None,
    hashes: dict[str, str],
    outcomes: dict[int, Outcome],
) -> Outcome:
    try:
        if operation.error is not None:
            raise operation.error
        _require_created(plan, operation, outcomes)
        assert step is not None
        with _savepoint(conn):
            row, status = step.write(conn, hashes)
    except errors.ScimError as exc:
        return Outcome(int(exc.status), error=exc)
    return Outcome(status, row)


def _require_created(plan: Plan, operation: Operation, outcomes: dict[int, Outcome]) -> None:
    """409 when a POST this operation refers to did not create its resource."""
    for bulk_id in dict.fromkeys(operation.refers_to):
        done = outcomes.get(plan.posts[bulk_id].index)
        if done is None or done.error is not None:
            raise errors.ScimError(
                f"bulkId {bulk_id!r} was not created: its POST failed", status=409
            )


@contextmanager
def _savepoint(conn: sqlite3.Connection) -> Iterator[None]:
    """One operation, applied whole or not at all inside the bulk's transaction."""
    conn.execute("SAVEPOINT bulk_operation")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK TO bulk_operation")
        conn.execute("RELEASE bulk_operation")
        raise
    conn.execute("RELEASE bulk_operation")


# --- the answer ----------------------------------------------------------------------------


def _answer(operation: Operation, outcome: Outcome, base: str) -> dict[str, Any]:
    """RFC 7644 §3.7.3: method, bulkId, location (not for a failed POST), version, status,
    and the SCIM Error as `response` for a failure."""
    answer: dict[str, Any] = {"method": operation.method}
    if operation.bulk_id is not None:
        answer["bulkId"] = operation.bulk_id
    failed_post = operation.method == "POST" and outcome.error is not None
    if operation.resource_type is not None and operation.resource_id and not failed_post:
        answer["location"] = f"{base}{operation.resource_type.endpoint}/{operation.resource_id}"
    if outcome.row is not None:
        answer["version"] = etag(outcome.row.version)
    answer["status"] = str(outcome.status)
    if outcome.error is not None:
        error = outcome.error
        answer["response"] = errors.body(outcome.status, str(error.detail), error.scim_type)
    return answer
