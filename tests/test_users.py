"""/Users over HTTP: paging, sorting, attribute selection, PUT semantics, passwords."""

from __future__ import annotations

from typing import Any

import pytest

from app import database, passwords
from tests.conftest import USER_SCHEMA, ScimClient, assert_scim_error, seed_users


@pytest.fixture
def thirty(client: ScimClient) -> ScimClient:
    seed_users(
        {
            "userName": f"user{i:02d}@example.com",
            "name": {"givenName": f"G{29 - i:02d}", "familyName": "F"},
            "active": i % 2 == 0,
        }
        for i in range(30)
    )
    return client


def test_import_walks_every_user_exactly_once(thirty: ScimClient) -> None:
    # Okta's import: startIndex=1, count=N, then startIndex=N+1, ....
    seen: list[str] = []
    start = 1
    while True:
        page = thirty.get("/Users", params={"startIndex": start, "count": 7}).json()
        assert page["totalResults"] == 30
        assert page["startIndex"] == start
        assert page["itemsPerPage"] == len(page["Resources"])
        if not page["Resources"]:
            break
        seen += [u["userName"] for u in page["Resources"]]
        start += page["itemsPerPage"]
    assert seen == [f"user{i:02d}@example.com" for i in range(30)]


@pytest.mark.parametrize(
    ("params", "start", "returned"),
    [
        ({}, 1, 30),
        ({"startIndex": 0}, 1, 30),
        ({"startIndex": -5, "count": 3}, 1, 3),
        ({"startIndex": 29, "count": 5}, 29, 2),
        ({"startIndex": 31, "count": 5}, 31, 0),
        ({"startIndex": 1000}, 1000, 0),
        ({"count": 0}, 1, 0),
        ({"count": -3}, 1, 0),
        # found by the fuzzer: a filtered page past the end counted with a read-only mapping
        ({"filter": 'userName sw "user"', "startIndex": 2147483646, "count": 100}, 2147483646, 0),
        ({"filter": 'userName sw "user"', "startIndex": 25, "count": 0}, 25, 0),
        ({"filter": 'userName sw "user"', "startIndex": 29, "count": 5}, 29, 2),
    ],
)
def test_paging_edges(
    thirty: ScimClient, params: dict[str, int], start: int, returned: int
) -> None:
    page = thirty.get("/Users", params=params).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (30, start, returned)
    assert len(page["Resources"]) == returned


def test_count_is_capped_at_max_results(make_client: Any) -> None:
    client = make_client(max_results=5)
    for i in range(8):
        client.create_user(f"u{i}")
    page = client.get("/Users", params={"count": 100}).json()
    assert (page["totalResults"], page["itemsPerPage"]) == (8, 5)
    assert client.get("/ServiceProviderConfig").json()["filter"]["maxResults"] == 5


@pytest.mark.parametrize(
    ("sort", "first", "last"),
    [
        ({"sortBy": "userName"}, "user00@example.com", "user29@example.com"),
        (
            {"sortBy": "userName", "sortOrder": "descending"},
            "user29@example.com",
            "user00@example.com",
        ),
        ({"sortBy": "name.givenName"}, "user29@example.com", "user00@example.com"),
        (
            {"sortBy": "emails"},
            "user00@example.com",
            "user29@example.com",
        ),  # none have emails: creation order
    ],
)
def test_sorting(thirty: ScimClient, sort: dict[str, str], first: str, last: str) -> None:
    names = [
        u["userName"]
        for u in thirty.get("/Users", params={**sort, "count": 100}).json()["Resources"]
    ]
    assert (names[0], names[-1]) == (first, last)


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"attributes": "userName"}, {"schemas", "id", "userName"}),
        ({"attributes": "name.givenName,active"}, {"schemas", "id", "name", "active"}),
        ({"excludedAttributes": "name,meta,emails"}, {"schemas", "id", "userName", "active"}),
        (
            {"excludedAttributes": "id"},
            {"schemas", "id", "userName", "name", "active", "meta"},
        ),  # always returned
        ({"attributes": "nonsense"}, {"schemas", "id"}),
    ],
)
def test_attribute_selection(client: ScimClient, params: dict[str, str], keys: set[str]) -> None:
    user = client.create_user("sel", name={"givenName": "G", "familyName": "F"})
    got = client.get(f"/Users/{user['id']}", params=params).json()
    assert set(got) == keys
    if "name" in keys and params.get("attributes"):
        assert got["name"] == {"givenName": "G"}
    listed = client.get("/Users", params=params).json()["Resources"][0]
    assert listed == got


def test_put_replaces_and_keeps_password(client: ScimClient) -> None:
    created = client.post(
        "/Users",
        {"schemas": [USER_SCHEMA], "userName": "pw", "title": "T", "password": "s3cret-Passw0rd"},
    ).json()
    stored_hash = database.connection().execute("SELECT password_hash FROM users").fetchone()[0]
    assert stored_hash.startswith("scrypt$") and "s3cret" not in stored_hash
    assert passwords.verify("s3cret-Passw0rd", stored_hash)
    replaced = client.put(f"/Users/{created['id']}", {"userName": "pw", "nickName": "N"}).json()
    assert "title" not in replaced and replaced["nickName"] == "N"
    assert (
        database.connection().execute("SELECT password_hash FROM users").fetchone()[0]
        == stored_hash
    )
    client.put(f"/Users/{created['id']}", {"userName": "pw", "password": "other"})
    assert passwords.verify(
        "other", database.connection().execute("SELECT password_hash FROM users").fetchone()[0]
    )


def test_put_may_rename_but_not_onto_another_user(client: ScimClient) -> None:
    a = client.create_user("a")
    client.create_user("b")
    assert client.put(f"/Users/{a['id']}", {"userName": "A2"}).json()["userName"] == "A2"
    assert_scim_error(client.put(f"/Users/{a['id']}", {"userName": "B"}), 409, "uniqueness")
    own = client.put(f"/Users/{a['id']}", {"userName": "a2"})  # its own name, new case
    assert own.status_code == 200 and own.json()["userName"] == "a2"


def test_patch_result_is_validated(client: ScimClient) -> None:
    user = client.create_user("v")
    bad = [{"op": "replace", "path": "active", "value": "yes"}]
    error = assert_scim_error(client.patch(f"/Users/{user['id']}", bad), 400, "invalidValue")
    assert "active" in error["detail"]
    assert_scim_error(
        client.patch(f"/Users/{user['id']}", [{"op": "remove", "path": "userName"}]),
        400,
        "invalidValue",
    )


def test_patch_userName_keeps_uniqueness(client: ScimClient) -> None:
    a = client.create_user("a")
    client.create_user("b")
    assert_scim_error(
        client.patch(f"/Users/{a['id']}", [{"op": "replace", "path": "userName", "value": "B"}]),
        409,
        "uniqueness",
    )


def test_unknown_attributes_are_ignored_and_meta_is_the_servers(client: ScimClient) -> None:
    """An unknown core attribute is ignored; an undeclared extension's object is kept
    (SCIM_UNDECLARED_EXTENSIONS=keep, tests/test_undeclared.py)."""
    body = {
        "schemas": [USER_SCHEMA],
        "userName": "u",
        "shoeSize": 42,
        "id": "mine",
        "meta": {"created": "1999-01-01T00:00:00Z"},
        "urn:example:custom:1.0:User": {"x": 1},
    }
    created = client.post("/Users", body).json()
    assert created["id"] != "mine" and "shoeSize" not in created
    assert created["meta"]["created"] != "1999-01-01T00:00:00Z"
    assert created["urn:example:custom:1.0:User"] == {"x": 1}


def test_one_primary_email(client: ScimClient) -> None:
    user = client.create_user(
        "p", emails=[{"value": "a@x", "primary": True}, {"value": "b@x", "primary": True}]
    )
    assert [e.get("primary") for e in user["emails"]] == [None, True]


def test_enterprise_extension_round_trip(client: ScimClient) -> None:
    ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    user = client.create_user(
        "e", **{ent: {"employeeNumber": "1", "manager": {"value": "m", "displayName": "ignored"}}}
    )
    assert user["schemas"] == [USER_SCHEMA, ent]
    assert user[ent] == {"employeeNumber": "1", "manager": {"value": "m"}}
    patched = client.patch(
        f"/Users/{user['id']}",
        [
            {"op": "remove", "path": f"{ent}:employeeNumber"},
            {"op": "remove", "path": f"{ent}:manager"},
        ],
    ).json()
    assert ent not in patched and patched["schemas"] == [USER_SCHEMA]


def test_media_types(client: ScimClient) -> None:
    for content_type in (
        "application/json",
        "application/json; charset=utf-8",
        "Application/SCIM+JSON",
        "application/scim+json; charset=UTF-8",
    ):
        name = content_type.replace("/", "-").replace(";", "").replace(" ", "")
        response = client.post("/Users", {"userName": name}, headers={"Content-Type": content_type})
        assert response.status_code == 201, (content_type, response.text)
        assert response.headers["content-type"].startswith("application/scim+json")
        invalid = client.post("/Users", {"userName": 1}, headers={"Content-Type": content_type})
        assert_scim_error(invalid, 400, "invalidValue")
    # Runscope sends a Content-Type on bodiless GETs.
    assert (
        client.get(
            "/Users", headers={"Content-Type": "application/scim+json; charset=utf-8"}
        ).status_code
        == 200
    )
