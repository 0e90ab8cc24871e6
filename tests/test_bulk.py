"""POST /Bulk (RFC 7644 §3.7): a table of BulkRequests and the BulkResponses they get.

Rows start with the RFC's own examples (§3.7, §3.7.1-§3.7.4; resource ids replaced by users
that exist here), then the error rows. In a request, "{bob}" stands for the id of the existing
user bob and "{bob.version}" for its current ETag; "{stale}" is a version no resource has.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from app import config, database, passwords
from tests.conftest import (
    BASE,
    ERROR_SCHEMA,
    GROUP_SCHEMA,
    PATCH_SCHEMA,
    USER_SCHEMA,
    ScimClient,
    assert_scim_error,
)

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def bulk(*operations: dict[str, Any], fail_on_errors: int | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"schemas": [BULK_REQUEST], "Operations": list(operations)}
    if fail_on_errors is not None:
        request["failOnErrors"] = fail_on_errors
    return request


def post_user(bulk_id: str, user_name: str, **attributes: Any) -> dict[str, Any]:
    data = {"schemas": [USER_SCHEMA], "userName": user_name, **attributes}
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": data}


def post_group(bulk_id: str, name: str, members: list[str]) -> dict[str, Any]:
    data = {
        "schemas": [GROUP_SCHEMA],
        "displayName": name,
        "members": [{"type": "User", "value": m} for m in members],
    }
    return {"method": "POST", "path": "/Groups", "bulkId": bulk_id, "data": data}


def patch_op(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


# (request, expected (method, bulkId, status, scimType) per operation in the response)
ROWS: dict[str, tuple[dict[str, Any], list[tuple[str, str | None, str, str | None]]]] = {
    # RFC 7644 §3.7: one of each method; each answered like the single request.
    "rfc-3.7-one-of-each": (
        bulk(
            post_user("qwerty", "Alice"),
            {
                "method": "PUT",
                "path": "/Users/{bob}",
                "version": "{bob.version}",
                "data": {"schemas": [USER_SCHEMA], "id": "{bob}", "userName": "Bob"},
            },
            {
                "method": "PATCH",
                "path": "/Users/{carol}",
                "version": "{carol.version}",
                "data": patch_op(
                    {"op": "remove", "path": "nickName"},
                    {"op": "replace", "path": "userName", "value": "Dave"},
                ),
            },
            {"method": "DELETE", "path": "/Users/{erin}", "version": "{erin.version}"},
            fail_on_errors=1,
        ),
        [
            ("POST", "qwerty", "201", None),
            ("PUT", None, "200", None),
            ("PATCH", None, "200", None),
            ("DELETE", None, "204", None),
        ],
    ),
    # RFC 7644 §3.7.3: every operation fails; without failOnErrors all are processed.
    "rfc-3.7.3-errors": (
        bulk(
            {"method": "POST", "path": "/Users", "bulkId": "qwerty", "data": {"name": {}}},
            {
                "method": "PUT",
                "path": "/Users/{bob}",
                "version": "{stale}",
                "data": {"schemas": [USER_SCHEMA], "userName": "Bob"},
            },
            {
                "method": "PATCH",
                "path": "/Users/{carol}",
                "version": "{stale}",
                "data": patch_op({"op": "replace", "path": "userName", "value": "Dave"}),
            },
            {"method": "DELETE", "path": "/Users/e9025315-6bea-44e1-899c-1e07454e468b"},
        ),
        [
            ("POST", "qwerty", "400", "invalidValue"),
            ("PUT", None, "412", None),
            ("PATCH", None, "412", None),
            ("DELETE", None, "404", None),
        ],
    ),
    # RFC 7644 §3.7.3/§3.7.4: failOnErrors 1 stops at the first error; HTTP 200 regardless.
    "rfc-3.7.3-fail-on-errors": (
        bulk(
            {"method": "POST", "path": "/Users", "bulkId": "qwerty", "data": {"name": {}}},
            {"method": "DELETE", "path": "/Users/{erin}"},
            fail_on_errors=1,
        ),
        [("POST", "qwerty", "400", "invalidValue")],
    ),
    "fail-on-errors-2-counts-two": (
        bulk(
            {"method": "DELETE", "path": "/Users/nobody"},
            post_user("a", "alice"),
            {"method": "DELETE", "path": "/Users/nobody-either"},
            post_user("b", "zed"),
            fail_on_errors=2,
        ),
        [("DELETE", None, "404", None), ("POST", "a", "201", None), ("DELETE", None, "404", None)],
    ),
    # RFC 7644 §3.7.2: a user, a user whose manager is that user, a group of both.
    "rfc-3.7.2-bulkid-references": (
        bulk(
            post_user("qwerty", "Alice"),
            post_user("ytrewq", "Bob2", **{ENTERPRISE: {"manager": {"value": "bulkId:qwerty"}}}),
            post_group("lmnop", "Tour Guides", ["bulkId:qwerty", "bulkId:ytrewq"]),
        ),
        [
            ("POST", "qwerty", "201", None),
            ("POST", "ytrewq", "201", None),
            ("POST", "lmnop", "201", None),
        ],
    ),
    # A reference to a POST later in the request: that POST runs first.
    "forward-reference": (
        bulk(
            post_group("g", "Tour Guides", ["bulkId:u2", "bulkId:u1"]),
            post_user("u1", "first"),
            post_user("u2", "second", **{ENTERPRISE: {"manager": {"value": "bulkId:u1"}}}),
        ),
        [("POST", "g", "201", None), ("POST", "u1", "201", None), ("POST", "u2", "201", None)],
    ),
    "reference-in-path": (
        bulk(
            {
                "method": "PATCH",
                "path": "/Users/bulkId:new",
                "data": patch_op({"op": "replace", "value": {"active": False}}),
            },
            {"method": "DELETE", "path": "/Groups/bulkId:grp"},
            post_user("new", "newcomer"),
            post_group("grp", "Short-lived", ["bulkId:new"]),
        ),
        [
            ("PATCH", None, "200", None),
            ("DELETE", None, "204", None),
            ("POST", "new", "201", None),
            ("POST", "grp", "201", None),
        ],
    ),
    # RFC 7644 §3.7.1: two groups that contain each other; not resolved here (409).
    "rfc-3.7.1-circular": (
        bulk(
            post_group("qwerty", "Group A", ["bulkId:ytrewq"]),
            post_group("ytrewq", "Group B", ["bulkId:qwerty"]),
        ),
        [("POST", "qwerty", "409", None), ("POST", "ytrewq", "409", None)],
    ),
    "circular-managers-and-a-dependent": (
        bulk(
            post_user("a", "ann", **{ENTERPRISE: {"manager": {"value": "bulkId:b"}}}),
            post_user("b", "ben", **{ENTERPRISE: {"manager": {"value": "bulkId:a"}}}),
            post_group("g", "Depends", ["bulkId:a"]),
            post_user("c", "cat"),
        ),
        [
            ("POST", "a", "409", None),
            ("POST", "b", "409", None),
            ("POST", "g", "409", None),
            ("POST", "c", "201", None),
        ],
    ),
    "self-reference": (
        bulk(post_user("me", "narcissus", **{ENTERPRISE: {"manager": {"value": "bulkId:me"}}})),
        [("POST", "me", "409", None)],
    ),
    "unknown-bulkid": (
        bulk(post_group("g", "Ghosts", ["bulkId:nobody"]), post_user("u", "real")),
        [("POST", "g", "409", None), ("POST", "u", "201", None)],
    ),
    "reference-to-a-failed-post": (
        bulk(post_user("dup", "bob"), post_group("g", "Has dup", ["bulkId:dup"])),
        [("POST", "dup", "409", "uniqueness"), ("POST", "g", "409", None)],
    ),
    "missing-bulkid-on-post": (
        bulk({"method": "POST", "path": "/Users", "data": {"userName": "nobulkid"}}),
        [("POST", None, "400", "invalidSyntax")],
    ),
    "duplicate-bulkid": (
        bulk(post_user("same", "one"), post_user("same", "two"), post_user("other", "three")),
        [
            ("POST", "same", "400", "invalidValue"),
            ("POST", "same", "400", "invalidValue"),
            ("POST", "other", "201", None),
        ],
    ),
    "missing-data": (
        bulk({"method": "PUT", "path": "/Users/{bob}"}, {"method": "POST", "path": "/Groups"}),
        [("PUT", None, "400", "invalidSyntax"), ("POST", None, "400", "invalidSyntax")],
    ),
    "bad-paths": (
        bulk(
            {"method": "DELETE", "path": "/Widgets/1"},
            {"method": "DELETE", "path": "/Users/{bob}/extra"},
            {"method": "DELETE", "path": "Users/{bob}"},
        ),
        [("DELETE", None, "404", None)] * 3,
    ),
    "method-not-allowed-on-path": (
        bulk(
            {"method": "POST", "path": "/Users/{bob}", "bulkId": "x", "data": {"userName": "x"}},
            {"method": "PUT", "path": "/Users", "data": {"userName": "x"}},
            {"method": "DELETE", "path": "/Groups"},
        ),
        [("POST", "x", "405", None), ("PUT", None, "405", None), ("DELETE", None, "405", None)],
    ),
    "data-checked-like-a-single-request": (
        bulk(
            post_user("long", "x" * 257),
            post_group("nameless", "", []),
            {"method": "PATCH", "path": "/Users/{bob}", "data": {"Operations": []}},
            {"method": "PATCH", "path": "/Users/{bob}", "data": patch_op({"op": "jump"})},
            {"method": "PATCH", "path": "/Users/{bob}", "data": patch_op({"op": "add"})},
            post_group("nonuser", "Strangers", ["no-such-user"]),
        ),
        [
            ("POST", "long", "400", "invalidValue"),
            ("POST", "nameless", "400", "invalidValue"),
            *[("PATCH", None, "400", "invalidValue")] * 3,
            ("POST", "nonuser", "400", "invalidValue"),
        ],
    ),
    "uniqueness-regardless-of-case": (
        bulk(post_user("a", "BOB"), post_user("b", "newbie"), post_user("c", "NEWBIE")),
        [
            ("POST", "a", "409", "uniqueness"),
            ("POST", "b", "201", None),
            ("POST", "c", "409", "uniqueness"),
        ],
    ),
}


def _existing(client: ScimClient) -> dict[str, str]:
    """Users bob, carol and erin; their ids and versions, for the placeholders."""
    found = {"stale": 'W/"999"'}
    for name in ("bob", "carol", "erin"):
        user = client.create_user(name, nickName=name.title())
        found[name] = user["id"]
        found[f"{name}.version"] = user["meta"]["version"]
    return found


def _fill(value: Any, known: dict[str, str]) -> Any:
    text = json.dumps(value)
    for name, replacement in known.items():
        text = text.replace("{" + name + "}", json.dumps(replacement)[1:-1])
    return json.loads(text)


def _outline(operation: dict[str, Any]) -> tuple[str, str | None, str, str | None]:
    scim_type = operation.get("response", {}).get("scimType")
    return operation["method"], operation.get("bulkId"), operation["status"], scim_type


def _check_shape(operation: dict[str, Any]) -> None:
    """RFC 7644 §3.7.3: location except for a failed POST; version on success; error body."""
    status = int(operation["status"])
    if status < 300:
        assert "response" not in operation
        assert re.fullmatch(
            r"http://testserver/scim/v2/(Users|Groups)/[^/]+", operation["location"]
        )
        assert ("version" in operation) == (operation["method"] != "DELETE")
    else:
        error = operation["response"]
        assert error["schemas"] == [ERROR_SCHEMA] and error["status"] == operation["status"]
        assert error["detail"]
        if operation["method"] == "POST":
            assert "location" not in operation


@pytest.mark.parametrize("name", ROWS)
def test_bulk_table(client: ScimClient, name: str) -> None:
    request, expected = ROWS[name]
    response = client.post("/Bulk", _fill(request, _existing(client)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["schemas"] == [BULK_RESPONSE]
    assert [_outline(op) for op in body["Operations"]] == expected
    for operation in body["Operations"]:
        _check_shape(operation)


def _run(client: ScimClient, *operations: dict[str, Any], **kw: Any) -> list[dict[str, Any]]:
    response = client.post("/Bulk", bulk(*operations, **kw))
    assert response.status_code == 200, response.text
    return list(response.json()["Operations"])


def _location_id(operation: dict[str, Any]) -> str:
    return str(operation["location"]).rsplit("/", 1)[1]


def test_references_resolve_to_the_created_ids(client: ScimClient) -> None:
    request, _ = ROWS["rfc-3.7.2-bulkid-references"]
    alice, bob, group = _run(client, *request["Operations"])
    alice_id, bob_id = _location_id(alice), _location_id(bob)
    stored_bob = client.get(f"/Users/{bob_id}").json()
    assert stored_bob[ENTERPRISE]["manager"]["value"] == alice_id
    members = client.get(f"/Groups/{_location_id(group)}").json()["members"]
    assert {m["value"] for m in members} == {alice_id, bob_id}
    assert alice["version"] == client.get(f"/Users/{alice_id}").headers["ETag"]


def test_responses_match_the_single_requests(client: ScimClient) -> None:
    bob = client.create_user("bob")
    (put,) = _run(
        client,
        {"method": "PUT", "path": f"/Users/{bob['id']}", "data": {"userName": "bob", "title": "X"}},
    )
    read = client.get(f"/Users/{bob['id']}")
    assert put["version"] == read.headers["ETag"] == read.json()["meta"]["version"]
    assert put["location"] == read.json()["meta"]["location"]
    assert read.json()["title"] == "X"


def test_an_operation_is_never_half_applied(client: ScimClient) -> None:
    group = client.create_group("Before")
    replace = {"displayName": "After", "members": [{"value": "no-such-user"}]}
    (put,) = _run(client, {"method": "PUT", "path": f"/Groups/{group['id']}", "data": replace})
    assert put["status"] == "400"
    after = client.get(f"/Groups/{group['id']}")
    assert after.json()["displayName"] == "Before"
    assert after.headers["ETag"] == group["meta"]["version"]


def test_operations_are_independent(client: ScimClient) -> None:
    results = _run(client, post_user("a", "one"), post_user("b", "one"), post_user("c", "two"))
    assert [r["status"] for r in results] == ["201", "409", "201"]
    listed = client.get("/Users").json()
    assert sorted(u["userName"] for u in listed["Resources"]) == ["one", "two"]


def test_fail_on_errors_leaves_the_rest_unprocessed(client: ScimClient) -> None:
    results = _run(
        client,
        post_user("a", "one"),
        post_user("b", "one"),
        post_user("c", "two"),
        fail_on_errors=1,
    )
    assert [r["status"] for r in results] == ["201", "409"]
    assert client.get("/Users").json()["totalResults"] == 1


def test_passwords_are_hashed_as_on_a_single_request(client: ScimClient) -> None:
    (created,) = _run(client, post_user("p", "pat", password="s3cret-Passw0rd"))
    user_id = _location_id(created)
    _run(
        client,
        {
            "method": "PATCH",
            "path": f"/Users/{user_id}",
            "data": patch_op({"op": "replace", "value": {"password": "n3w-Passw0rd"}}),
        },
    )
    stored = database.connection().execute("SELECT password_hash FROM users").fetchone()[0]
    assert passwords.verify("n3w-Passw0rd", stored)
    assert "password" not in client.get(f"/Users/{user_id}").json()


def test_a_group_patch_in_bulk_changes_members(client: ScimClient) -> None:
    group = client.create_group("Team")
    (created, patched) = _run(
        client,
        post_user("u", "member"),
        {
            "method": "PATCH",
            "path": f"/Groups/{group['id']}",
            "version": group["meta"]["version"],
            "data": patch_op({"op": "add", "path": "members", "value": [{"value": "bulkId:u"}]}),
        },
    )
    assert (created["status"], patched["status"]) == ("201", "200")
    members = client.get(f"/Groups/{group['id']}").json()["members"]
    assert [m["value"] for m in members] == [_location_id(created)]


def test_too_many_operations(make_client: Any) -> None:
    client = make_client(bulk_max_operations=2)
    request = bulk(post_user("a", "a"), post_user("b", "b"), post_user("c", "c"))
    error = assert_scim_error(client.post("/Bulk", request), 413)
    assert "maxOperations (2)" in error["detail"]
    assert client.get("/Users").json()["totalResults"] == 0


def test_payload_too_large(make_client: Any) -> None:
    client = make_client(bulk_max_payload_bytes=300)
    request = bulk(*(post_user(str(n), f"user{n}") for n in range(5)))
    error = assert_scim_error(client.post("/Bulk", request), 413)
    assert "maxPayloadSize (300)" in error["detail"]


def test_service_provider_config_advertises_the_limits(make_client: Any) -> None:
    client = make_client(bulk_max_operations=50, bulk_max_payload_bytes=4096)
    config = client.http.get(BASE + "/ServiceProviderConfig").json()
    assert config["bulk"] == {"supported": True, "maxOperations": 50, "maxPayloadSize": 4096}


@pytest.mark.parametrize(
    "schemas",
    [
        None,
        [],
        ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        [BULK_REQUEST, BULK_REQUEST],
        [BULK_REQUEST.upper()],
    ],
    ids=["missing", "empty", "other-message", "twice", "other-case"],
)
def test_schemas_must_be_exactly_bulk_request(client: ScimClient, schemas: Any) -> None:
    request: dict[str, Any] = {"Operations": [post_user("a", "a")]}
    if schemas is not None:
        request["schemas"] = schemas
    assert_scim_error(client.post("/Bulk", request), 400, "invalidSyntax")
    assert client.get("/Users").json()["totalResults"] == 0


@pytest.mark.parametrize(
    "request_body",
    [
        {"schemas": [BULK_REQUEST]},
        {"schemas": [BULK_REQUEST], "Operations": [{"method": "GET", "path": "/Users"}]},
        {"schemas": [BULK_REQUEST], "Operations": [], "failOnErrors": 0},
    ],
    ids=["no-operations", "get", "fail-on-errors-0"],
)
def test_malformed_requests(client: ScimClient, request_body: dict[str, Any]) -> None:
    assert_scim_error(client.post("/Bulk", request_body), 400, "invalidValue")


def test_bulk_needs_a_token(client: ScimClient) -> None:
    response = client.http.post(BASE + "/Bulk", json=bulk(post_user("a", "a")))
    assert_scim_error(response, 401)


def test_bulk_settings_from_environment() -> None:
    settings = config.from_env(
        {"SCIM_BULK_MAX_OPERATIONS": "10", "SCIM_BULK_MAX_PAYLOAD_BYTES": "2048"}
    )
    assert (settings.bulk_max_operations, settings.bulk_payload_limit) == (10, 2048)
    defaults = config.from_env({"SCIM_MAX_BODY_BYTES": "4096"})
    assert (defaults.bulk_max_operations, defaults.bulk_payload_limit) == (1000, 4096)
    # The middleware refuses a body over SCIM_MAX_BODY_BYTES first: that caps maxPayloadSize.
    capped = config.from_env({"SCIM_MAX_BODY_BYTES": "4096", "SCIM_BULK_MAX_PAYLOAD_BYTES": "9999"})
    assert capped.bulk_payload_limit == 4096
