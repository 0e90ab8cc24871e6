"""Every error a client can see is a SCIM Error (RFC 7644 §3.12), Connexion's own included."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app import errors
from app.middleware import RequestNormalizer
from tests.conftest import AUTH, BASE, USER_SCHEMA, ScimClient, assert_scim_error

USER = {"schemas": [USER_SCHEMA], "userName": "bjensen"}

# (id, method, path, headers, raw body, status, scimType)
CASES: list[tuple[str, str, str, dict[str, str], bytes | None, int, str | None]] = [
    ("no-token", "GET", "/Users", {"Authorization": ""}, None, 401, None),
    ("wrong-token", "GET", "/Users", {"Authorization": "Bearer nope"}, None, 401, None),
    ("wrong-bare-token", "GET", "/Users", {"Authorization": "nope"}, None, 401, None),
    ("basic-auth", "GET", "/Users", {"Authorization": "Basic dXNlcjpwYXNz"}, None, 401, None),
    ("unknown-route", "GET", "/Nothing", {}, None, 404, None),
    ("outside-base-path", "GET", "/../../elsewhere", {}, None, 404, None),
    ("unknown-user", "GET", "/Users/unknown", {}, None, 404, None),
    ("unknown-group", "GET", "/Groups/unknown", {}, None, 404, None),
    ("delete-unknown-user", "DELETE", "/Users/unknown", {}, None, 404, None),
    (
        "patch-unknown-group",
        "PATCH",
        "/Groups/unknown",
        {"Content-Type": "application/scim+json"},
        b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[]}]}',
        404,
        None,
    ),
    ("unknown-resource-type", "GET", "/ResourceTypes/Device", {}, None, 404, None),
    ("unknown-schema", "GET", "/Schemas/urn:nope", {}, None, 404, None),
    (
        "malformed-json",
        "POST",
        "/Users",
        {"Content-Type": "application/scim+json"},
        b"{bad",
        400,
        "invalidSyntax",
    ),
    (
        "non-utf8",
        "POST",
        "/Users",
        {"Content-Type": "application/scim+json"},
        b"\xff\xfe\xfa",
        400,
        "invalidSyntax",
    ),
    (
        "wrong-type",
        "POST",
        "/Users",
        {"Content-Type": "application/scim+json"},
        b'{"userName": 5}',
        400,
        "invalidValue",
    ),
    (
        "missing-userName",
        "POST",
        "/Users",
        {"Content-Type": "application/json"},
        b'{"active": true}',
        400,
        "invalidValue",
    ),
    (
        "empty-userName",
        "POST",
        "/Users",
        {"Content-Type": "application/json"},
        b'{"userName": ""}',
        400,
        "invalidValue",
    ),
    (
        "body-not-object",
        "POST",
        "/Users",
        {"Content-Type": "application/json"},
        b"[1,2]",
        400,
        "invalidValue",
    ),
    ("text-plain", "POST", "/Users", {"Content-Type": "text/plain"}, b"userName=x", 415, None),
    (
        "form",
        "POST",
        "/Users",
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"userName=x",
        415,
        None,
    ),
    ("extra-query-parameter", "GET", "/Users?foo=bar", {}, None, 400, "invalidValue"),
    ("count-not-integer", "GET", "/Users?count=ten", {}, None, 400, "invalidValue"),
    (
        "count-too-large",
        "GET",
        "/Users?startIndex=4404906183640135237632",
        {},
        None,
        400,
        "invalidValue",
    ),
    ("bad-sort-order", "GET", "/Users?sortOrder=sideways", {}, None, 400, "invalidValue"),
    ("filter-syntax", "GET", "/Users?filter=userName%20eq", {}, None, 400, "invalidFilter"),
    ("filter-bare-word", "GET", "/Users?filter=bjensen", {}, None, 400, "invalidFilter"),
    (
        "filter-unknown-attribute",
        "GET",
        "/Users?filter=shoeSize%20eq%20%2242%22",
        {},
        None,
        400,
        "invalidFilter",
    ),
    (
        "filter-boolean-as-string",
        "GET",
        "/Users?filter=active%20eq%20%22yes%22",
        {},
        None,
        400,
        "invalidFilter",
    ),
    (
        "filter-gt-on-boolean",
        "GET",
        "/Users?filter=active%20gt%20true",
        {},
        None,
        400,
        "invalidFilter",
    ),
    (
        "filter-complex-compared",
        "GET",
        "/Users?filter=name%20eq%20%22x%22",
        {},
        None,
        400,
        "invalidFilter",
    ),
    (
        "filter-unbalanced",
        "GET",
        "/Groups?filter=(displayName%20eq%20%22x%22",
        {},
        None,
        400,
        "invalidFilter",
    ),
    ("sort-unknown", "GET", "/Users?sortBy=shoeSize", {}, None, 400, "invalidValue"),
    (
        "patch-no-operations",
        "PATCH",
        "/Users/x",
        {"Content-Type": "application/scim+json"},
        b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]}',
        400,
        "invalidValue",
    ),
    (
        "patch-unknown-op",
        "PATCH",
        "/Users/x",
        {"Content-Type": "application/scim+json"},
        b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"move"}]}',
        400,
        "invalidValue",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status", "scim_type"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_error_is_scim(
    client: ScimClient,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
    status: int,
    scim_type: str | None,
) -> None:
    sent = {**AUTH, **headers}
    if not sent["Authorization"]:
        del sent["Authorization"]
    response = client.http.request(method, BASE + path, headers=sent, content=body)
    error = assert_scim_error(response, status, scim_type)
    if status == 401:
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="scim"'
    assert "Traceback" not in error["detail"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/Users", "GET, HEAD, POST"),
        ("DELETE", "/Groups", "GET, HEAD, POST"),
        ("POST", "/Users/abc", "DELETE, GET, HEAD, PATCH, PUT"),
        ("POST", "/ServiceProviderConfig", "GET, HEAD"),
        ("POST", "/ResourceTypes", "GET, HEAD"),
        ("POST", "/Schemas", "GET, HEAD"),
        ("PUT", "/Schemas/urn:x", "GET, HEAD"),
    ],
)
def test_wrong_method_is_405_with_every_allowed_method(
    client: ScimClient, method: str, path: str, allow: str
) -> None:
    # Runscope's legacy read-only steps POST a non-JSON body and expect 405.
    response = client.http.request(method, BASE + path, headers=AUTH, content=b"test\r\n\r\n")
    assert_scim_error(response, 405)
    assert response.headers["Allow"] == allow


def test_duplicate_user_name_is_409_uniqueness(client: ScimClient) -> None:
    client.create_user("bjensen")
    assert_scim_error(client.post("/Users", {**USER, "userName": "BJensen"}), 409, "uniqueness")


def test_oversized_body_is_413(make_client: Any) -> None:
    client = make_client(max_body_bytes=1000)
    big = {**USER, "displayName": "x" * 1000}
    assert_scim_error(client.post("/Users", big), 413)
    assert client.get("/Users").json()["totalResults"] == 0


def test_body_without_content_length_is_cut_off_as_it_arrives(make_client: Any) -> None:
    make_client(max_body_bytes=1000)  # the limit is read from the settings in force
    received: list[bytes] = []

    async def downstream(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            received.append(message.get("body", b""))
            if not message.get("more_body"):
                return

    chunks = [{"type": "http.request", "body": b"x" * 600, "more_body": True}] * 3

    async def receive() -> dict[str, Any]:
        return chunks.pop()

    scope = {
        "type": "http",
        "path": "/scim/v2/Users",
        "headers": [(b"content-type", b"application/json")],
    }
    with pytest.raises(errors.PayloadTooLarge):
        asyncio.run(RequestNormalizer(downstream)(scope, receive, None))  # type: ignore[arg-type]
    assert len(received) == 1  # the second chunk crossed the limit and never reached the app


def test_chunked_body_reaches_the_app_with_a_content_length(make_client: Any) -> None:
    make_client()
    seen: dict[str, Any] = {}

    async def downstream(scope: Any, receive: Any, send: Any) -> None:
        seen["headers"] = dict(scope["headers"])
        seen["body"] = (await receive())["body"]

    chunks = [
        {"type": "http.request", "body": b'"}', "more_body": False},
        {"type": "http.request", "body": b'{"userName": "chunky', "more_body": True},
    ]

    async def receive() -> dict[str, Any]:
        return chunks.pop()

    scope = {
        "type": "http",
        "path": "/scim/v2/Users",
        "headers": [(b"transfer-encoding", b"chunked")],
    }
    asyncio.run(RequestNormalizer(downstream)(scope, receive, None))  # type: ignore[arg-type]
    assert seen["body"] == b'{"userName": "chunky"}'
    assert seen["headers"][b"content-length"] == b"22"


def test_unexpected_exception_is_scim_500_without_traceback(
    client: ScimClient, monkeypatch: Any
) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("app.store.fetch", boom)
    response = client.get("/Users/anything")
    error = assert_scim_error(response, 500)
    assert "secret" not in response.text
    assert error["detail"] == "Internal server error"


def test_bad_input_changes_nothing(client: ScimClient) -> None:
    user = client.create_user("bjensen", name={"givenName": "Barbara"})
    bad = [{"op": "replace", "path": "name.givenName", "value": "B"}, {"op": "remove"}]
    assert_scim_error(client.patch(f"/Users/{user['id']}", bad), 400, "noTarget")
    after = client.get(f"/Users/{user['id']}").json()
    assert after["name"] == {"givenName": "Barbara"}
    assert after["meta"]["version"] == user["meta"]["version"]
