"""Hostile input (issue #9): each request gets a SCIM 4xx with the right scimType, never a 500,
and leaves the stored data as it was. One row per request of the fault drill, and one per limit
in README.md ("Limits").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from app import config, database, deadline, errors, filters, limits, tables
from tests.conftest import (
    BASE,
    GROUP_SCHEMA,
    PATCH_SCHEMA,
    USER_SCHEMA,
    ScimClient,
    assert_scim_error,
    seed_users,
)

DEEP = 100_000
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def nested(depth: int, inner: str = "") -> str:
    """`[[[...inner...]]]`, depth levels."""
    return "[" * depth + inner + "]" * depth


def user(**extra: Any) -> dict[str, Any]:
    """A valid user body with extra members."""
    return {"schemas": [USER_SCHEMA], "userName": "mallory", **extra}


def patch_body(operations: Any) -> dict[str, Any]:
    """A PatchOp with these Operations."""
    return {"schemas": [PATCH_SCHEMA], "Operations": operations}


DEEP_MARK = "@deep:"


def deep_value(depth: int) -> str:
    """Stands for `[[[...]]]`, depth levels, in a body (json.dumps itself would recurse out)."""
    return f"{DEEP_MARK}{depth}"


def encode(body: Any) -> bytes:
    """JSON text of a body, each deep_value() spelled out as nested arrays."""
    text = json.dumps(body)
    return re.sub(f'"{DEEP_MARK}(\\d+)"', lambda m: nested(int(m.group(1))), text).encode()


def parens(depth: int, inner: str) -> str:
    """`((( inner )))`, depth levels."""
    return "(" * depth + inner + ")" * depth


def nots(depth: int, inner: str) -> str:
    """`not (not ( inner ))`, depth levels."""
    return "not (" * depth + inner + ")" * depth


# (id, method, path after BASE (`{user}`/`{group}` filled in), raw body or JSON value, status, scimType)
HOSTILE: list[tuple[str, str, str, Any, int, str]] = [
    # 1. Deeply nested JSON (Connexion parses bodies with json.loads, which recursed out).
    ("array-100000-deep", "POST", "/Users", nested(DEEP).encode(), 400, "invalidSyntax"),
    (
        "object-100000-deep",
        "POST",
        "/Users",
        ('{"a":' * DEEP + "1" + "}" * DEEP).encode(),
        400,
        "invalidSyntax",
    ),
    ("user-x-900-deep", "POST", "/Users", user(x=deep_value(900)), 400, "invalidSyntax"),
    ("user-x-950-deep", "POST", "/Users", user(x=deep_value(950)), 400, "invalidSyntax"),
    ("user-x-65-deep", "POST", "/Users", user(x=deep_value(65)), 400, "invalidSyntax"),
    ("put-user-x-950-deep", "PUT", "/Users/{user}", user(x=deep_value(950)), 400, "invalidSyntax"),
    (
        "patch-operations-1000-deep",
        "PATCH",
        "/Users/{user}",
        patch_body(deep_value(1000)),
        400,
        "invalidSyntax",
    ),
    (
        "patch-value-1000-deep",
        "PATCH",
        "/Users/{user}",
        patch_body([{"op": "add", "path": "title", "value": deep_value(1000)}]),
        400,
        "invalidSyntax",
    ),
    (
        "group-deep",
        "POST",
        "/Groups",
        {"schemas": [GROUP_SCHEMA], "displayName": "g", "x": deep_value(950)},
        400,
        "invalidSyntax",
    ),
    (
        "search-deep",
        "POST",
        "/Users/.search",
        {"schemas": [SEARCH], "filter": "userName pr", "x": deep_value(950)},
        400,
        "invalidSyntax",
    ),
    (
        "root-search-deep",
        "POST",
        "/.search",
        {"schemas": [SEARCH], "filter": "userName pr", "x": deep_value(950)},
        400,
        "invalidSyntax",
    ),
    # 2. Nested filters within the length limit (the recursive-descent parser recursed out).
    (
        "filter-parens-330",
        "GET",
        "/Users?filter=" + quote(parens(330, 'userName eq "x"')),
        None,
        400,
        "invalidFilter",
    ),
    (
        "filter-parens-300",
        "GET",
        "/Users?filter=" + quote(parens(300, 'userName eq "x"')),
        None,
        400,
        "invalidFilter",
    ),
    (
        "filter-parens-17",
        "GET",
        "/Users?filter=" + quote(parens(17, 'userName eq "x"')),
        None,
        400,
        "invalidFilter",
    ),
    (
        "filter-not-17",
        "GET",
        "/Users?filter=" + quote(nots(17, 'userName eq "x"')),
        None,
        400,
        "invalidFilter",
    ),
    (
        "filter-not-chain-17",
        "GET",
        "/Users?filter=" + quote(nots(10, " or ".join(['title eq "x"'] * 200))),
        None,
        400,
        "invalidFilter",
    ),
    (
        "filter-value-path-17",
        "GET",
        "/Users?filter=" + quote(nots(16, 'emails[type eq "work"]')),
        None,
        400,
        "invalidFilter",
    ),
    (
        "search-parens-330",
        "POST",
        "/Users/.search",
        {"schemas": [SEARCH], "filter": parens(330, 'userName eq "x"')},
        400,
        "invalidFilter",
    ),
    (
        "root-search-parens-330",
        "POST",
        "/.search",
        {"schemas": [SEARCH], "filter": parens(330, 'userName eq "x"')},
        400,
        "invalidFilter",
    ),
    (
        "groups-not-300",
        "GET",
        "/Groups?filter=" + quote(nots(300, 'displayName eq "x"')),
        None,
        400,
        "invalidFilter",
    ),
    (
        "groups-search-not-300",
        "POST",
        "/Groups/.search",
        {"schemas": [SEARCH], "filter": nots(300, 'displayName eq "x"')},
        400,
        "invalidFilter",
    ),
    (
        "value-path-brackets-330",
        "GET",
        "/Users?filter=" + quote("emails[" + parens(330, 'type eq "work"') + "]"),
        None,
        400,
        "invalidFilter",
    ),
    (
        "patch-path-parens-330",
        "PATCH",
        "/Users/{user}",
        patch_body(
            [
                {
                    "op": "replace",
                    "path": "emails[" + parens(330, 'type eq "work"') + "].value",
                    "value": "a@b.c",
                }
            ]
        ),
        400,
        "invalidPath",
    ),
    (
        "patch-path-not-150",
        "PATCH",
        "/Users/{user}",
        patch_body(
            [
                {
                    "op": "replace",
                    "path": "emails[" + nots(150, 'type eq "work"') + "].value",
                    "value": "a@b.c",
                }
            ]
        ),
        400,
        "invalidPath",
    ),
    (
        "group-patch-path-parens-330",
        "PATCH",
        "/Groups/{group}",
        patch_body([{"op": "remove", "path": "members[" + parens(330, 'value eq "x"') + "]"}]),
        400,
        "invalidPath",
    ),
    # 3. Invalid UTF-8 in a query value (Starlette decodes it to U+FFFD).
    (
        "filter-invalid-utf8",
        "GET",
        "/Users?filter=userName%20eq%20%22%FF%FE%C3%28%22",
        None,
        400,
        "invalidFilter",
    ),
    (
        "groups-filter-invalid-utf8",
        "GET",
        "/Groups?filter=displayName%20eq%20%22%C3%28%22",
        None,
        400,
        "invalidFilter",
    ),
    ("sortby-invalid-utf8", "GET", "/Users?sortBy=%FF", None, 400, "invalidValue"),
    (
        "attributes-invalid-utf8",
        "GET",
        "/Users/{user}?attributes=%C3%28",
        None,
        400,
        "invalidValue",
    ),
    # 4. A filter over the spec's length limit is a filter error.
    (
        "filter-too-long",
        "GET",
        "/Users?filter=" + quote('userName eq "' + "x" * 2100 + '"'),
        None,
        400,
        "invalidFilter",
    ),
    (
        "search-filter-too-long",
        "POST",
        "/Users/.search",
        {"schemas": [SEARCH], "filter": 'userName eq "' + "x" * 2100 + '"'},
        400,
        "invalidFilter",
    ),
    (
        "groups-search-filter-too-long",
        "POST",
        "/Groups/.search",
        {"schemas": [SEARCH], "filter": 'displayName eq "' + "x" * 2100 + '"'},
        400,
        "invalidFilter",
    ),
    # Item 3 of the issue: every other place where input size drives cost.
    (
        "patch-operations-1001",
        "PATCH",
        "/Users/{user}",
        patch_body([{"op": "replace", "path": "title", "value": "t"}] * 1001),
        400,
        "invalidValue",
    ),
    (
        "patch-members-10001",
        "PATCH",
        "/Groups/{group}",
        patch_body(
            [{"op": "add", "path": "members", "value": [{"value": f"u{i}"} for i in range(10_001)]}]
        ),
        400,
        "invalidValue",
    ),
    (
        "patch-members-split-10001",
        "PATCH",
        "/Groups/{group}",
        patch_body(
            [
                {
                    "op": "add",
                    "path": "members",
                    "value": [{"value": f"u{i}"} for i in range(5_001)],
                },
                {"op": "add", "value": {"members": [{"value": f"v{i}"} for i in range(5_000)]}},
            ]
        ),
        400,
        "invalidValue",
    ),
    (
        "patch-emails-10001",
        "PATCH",
        "/Users/{user}",
        patch_body(
            [
                {
                    "op": "add",
                    "path": "emails",
                    "value": [{"value": f"{i}@x.y"} for i in range(10_001)],
                }
            ]
        ),
        400,
        "invalidValue",
    ),
    (
        "attributes-too-long",
        "GET",
        "/Users?attributes=" + ",".join(["userName"] * 120),
        None,
        400,
        "invalidValue",
    ),
    (
        "search-attributes-101",
        "POST",
        "/Users/.search",
        {"schemas": [SEARCH], "attributes": ["userName"] * 101},
        400,
        "invalidValue",
    ),
    ("count-over-int32", "GET", "/Users?count=2147483648", None, 400, "invalidValue"),
    (
        "start-index-over-int32",
        "GET",
        "/Users?startIndex=4404906183640135237632",
        None,
        400,
        "invalidValue",
    ),
    ("sortby-too-long", "GET", "/Users?sortBy=" + "a" * 300, None, 400, "invalidValue"),
]


def snapshot() -> list[str]:
    """Every row in the database, as SQL (on PostgreSQL: every row of every table, sorted)."""
    conn = database.connection()
    if not database.postgres():
        return list(conn.iterdump())
    names = [tables.USERS.name, tables.GROUPS.name, tables.MEMBERS_TABLE, tables.EMAILS_TABLE]
    names += [tables.TENANTS_TABLE, tables.TOKENS_TABLE, tables.OUTBOX.events]
    return [f"{n}: {sorted(map(str, conn.execute(f'SELECT * FROM {n}')))}" for n in names]


def send(client: ScimClient, method: str, path: str, body: Any, ids: dict[str, str]) -> Any:
    """One request, the body raw bytes or JSON."""
    headers = {"Content-Type": "application/scim+json"}
    content = body if isinstance(body, bytes) else None if body is None else encode(body)
    return client.request(method, path.format(**ids), headers=headers, content=content)


@pytest.fixture
def seeded(client: ScimClient) -> tuple[ScimClient, dict[str, str]]:
    """A client over a database with one user in one group."""
    alice = client.create_user("alice", emails=[{"value": "alice@x.y", "type": "work"}])
    group = client.create_group("staff", [alice["id"]])
    return client, {"user": alice["id"], "group": group["id"]}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "scim_type"),
    [row[1:] for row in HOSTILE],
    ids=[row[0] for row in HOSTILE],
)
def test_hostile_request_is_a_scim_4xx_and_changes_nothing(
    seeded: tuple[ScimClient, dict[str, str]],
    method: str,
    path: str,
    body: Any,
    status: int,
    scim_type: str,
) -> None:
    client, ids = seeded
    before = snapshot()
    response = send(client, method, path, body, ids)
    assert_scim_error(response, status, scim_type)
    assert snapshot() == before


# Just within each limit: accepted. MAX_DEPTH levels of each construct, compiled to SQL and run.
D = filters.MAX_DEPTH
CHAIN_128 = " or ".join(["title pr"] * 128)  # balanced: 7 levels
WITHIN: list[tuple[str, str, str, Any, int]] = [
    ("user-x-63-deep", "POST", "/Users", user(x=deep_value(63)), 201),
    ("filter-parens", "GET", "/Users?filter=" + quote(parens(D, 'userName eq "alice"')), None, 200),
    ("filter-not", "GET", "/Groups?filter=" + quote(nots(D, 'displayName eq "x"')), None, 200),
    (
        "filter-not-value-path",
        "GET",
        "/Users?filter=" + quote(nots(D - 2, 'emails[not (type eq "work")]')),
        None,
        200,
    ),
    (
        "filter-not-value-path-ne",
        "GET",
        "/Users?filter=" + quote(nots(D - 1, 'emails[type ne "work"]')),
        None,
        200,
    ),
    (
        "filter-value-path-parens",
        "GET",
        "/Users?filter=" + quote("emails[" + parens(D - 1, 'type eq "work"') + "]"),
        None,
        200,
    ),
    ("filter-not-chain", "GET", "/Users?filter=" + quote(nots(D - 7, CHAIN_128)), None, 200),
    (
        "filter-chain-of-nots",
        "GET",
        "/Users?filter=" + quote(" and ".join([nots(D - 4, "title pr")] * 16)),
        None,
        200,
    ),
    (
        "filter-2048-or-chain",
        "GET",
        "/Users?filter=" + quote(" or ".join(["userName pr"] * 136)),
        None,
        200,
    ),
    (
        "search-2048-and-chain",
        "POST",
        "/Users/.search",
        {"schemas": [SEARCH], "filter": " and ".join(["title pr"] * 157)},
        200,
    ),
    (
        "search-chain-128",
        "POST",
        "/Users/.search",
        {"schemas": [SEARCH], "filter": CHAIN_128, "sortBy": "title"},
        200,
    ),
    (
        "root-search-not",
        "POST",
        "/.search",
        {"schemas": [SEARCH], "filter": nots(D, "externalId pr")},
        200,
    ),
    (
        "patch-path-parens",
        "PATCH",
        "/Users/{user}",
        patch_body(
            [
                {
                    "op": "replace",
                    "path": "emails[" + parens(D - 1, 'type eq "work"') + "].value",
                    "value": "a@b.c",
                }
            ]
        ),
        200,
    ),
    (
        "patch-path-not",
        "PATCH",
        "/Users/{user}",
        patch_body(
            [
                {
                    "op": "replace",
                    "path": "emails[" + nots(D - 2, 'type ne "home"') + "].value",
                    "value": "a@b.c",
                }
            ]
        ),
        200,
    ),
    (
        "group-patch-path-not",
        "PATCH",
        "/Groups/{group}",
        patch_body([{"op": "remove", "path": "members[" + nots(D - 1, 'display eq "x"') + "]"}]),
        200,
    ),
    (
        "patch-operations-1000",
        "PATCH",
        "/Users/{user}",
        patch_body([{"op": "replace", "path": "title", "value": "t"}] * 1000),
        200,
    ),
    ("brackets-in-strings", "POST", "/Users", user(title="[{" * 300), 201),
    ("count-capped", "GET", "/Users?count=2147483647", None, 200),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [row[1:] for row in WITHIN],
    ids=[row[0] for row in WITHIN],
)
def test_within_the_limits_is_accepted(
    seeded: tuple[ScimClient, dict[str, str]], method: str, path: str, body: Any, status: int
) -> None:
    client, ids = seeded
    response = send(client, method, path, body, ids)
    assert response.status_code == status, response.text


def test_count_is_capped_at_max_results(make_client: Callable[..., ScimClient]) -> None:
    client = make_client(max_results=2)
    for name in ("a", "b", "c"):
        client.create_user(name)
    page = client.get("/Users?count=2147483647").json()
    assert (page["totalResults"], page["itemsPerPage"]) == (3, 2)


def test_json_depth_setting(make_client: Callable[..., ScimClient]) -> None:
    client = make_client(max_json_depth=4)
    detail = assert_scim_error(client.post("/Users", user(x=[[[[]]]])), 400, "invalidSyntax")
    assert "deeper than 4" in detail["detail"]
    assert client.post("/Users", user(x=[[]])).status_code == 201


def test_patch_values_setting(seeded: tuple[ScimClient, dict[str, str]]) -> None:
    client, ids = seeded
    config.use(config.get().with_overrides(max_patch_values=2))
    members = [{"value": ids["user"]}] * 3
    response = client.patch(
        f"/Groups/{ids['group']}", [{"op": "add", "path": "members", "value": members}]
    )
    detail = assert_scim_error(response, 400, "invalidValue")
    assert "at most 2 values" in detail["detail"]


def test_chunked_deep_body_is_refused(seeded: tuple[ScimClient, dict[str, str]]) -> None:
    client, _ = seeded
    chunks = iter([b"[" * DEEP, b"]" * DEEP])
    headers = {"Authorization": "Bearer test-token", "Content-Type": "application/scim+json"}
    response = client.http.post(BASE + "/Users", headers=headers, content=chunks)
    assert_scim_error(response, 400, "invalidSyntax")


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('"[[[[" ', 0),
        (r'{"a": "\"[[[[\\", "b": [[]]}', 3),
        ("[" * 70 + "]" * 70, 70),
        ('["]]]]]]", ' + "[" * 70 + "]" * 70 + "]", 71),
    ],
)
def test_body_depth(text: str, depth: int) -> None:
    assert limits.body_depth(text.encode(), 0) == depth


@pytest.mark.parametrize(
    "text",
    [
        parens(D + 1, "a pr"),
        parens(10_000, "a pr"),
        nots(D + 1, "a pr"),
        "a[" * 10_000,
        nots(D - 6, CHAIN_128),
    ],
    ids=["parens", "parens-10000", "not", "brackets-10000", "not-chain"],
)
def test_filter_depth_is_bounded_in_the_parser(text: str) -> None:
    with pytest.raises(errors.InvalidFilter, match=f"deeper than {D} levels"):
        filters.parse(text)


def test_chains_are_balanced_and_print_as_written() -> None:
    node = filters.parse(CHAIN_128)
    assert filters.depth(node) == 7
    assert str(node) == CHAIN_128
    mixed = "a pr and b pr and c pr and d pr or e pr and f pr"
    assert str(filters.parse(mixed)) == mixed


@pytest.mark.sqlite_only  # SQLite's progress handler; PostgreSQL's statement_timeout is the pool's
def test_deadline_answers_503_and_writes_nothing(make_client: Callable[..., ScimClient]) -> None:
    client = make_client(request_deadline_seconds=1e-9)
    seed_users(
        {"schemas": [USER_SCHEMA], "userName": f"u{i}", "title": f"t{i}"} for i in range(2000)
    )
    before = snapshot()
    response = client.get('/Users?filter=title eq "nobody"')
    detail = assert_scim_error(response, 503)
    assert response.headers["Retry-After"] == "1"
    assert "longer than" in detail["detail"]
    assert snapshot() == before


def test_no_deadline_outside_a_request() -> None:
    deadline.start(0)
    assert not deadline.passed()
