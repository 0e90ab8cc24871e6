"""POST .search (RFC 7644 §3.4.3) and the query parameters that shape a list."""

from __future__ import annotations

from typing import Any

import pytest

from app import database
from tests.conftest import USER_SCHEMA, ScimClient, assert_scim_error

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@pytest.fixture
def directory(client: ScimClient) -> ScimClient:
    for name in ("carol", "alice", "bob"):
        client.create_user(name, title=name.upper(), name={"givenName": name.title()})
    alice = client.get("/Users", params={"filter": 'userName eq "alice"'}).json()["Resources"][0][
        "id"
    ]
    client.create_group("Admins", [alice])
    client.create_group("Everyone")
    return client


def search(client: ScimClient, path: str, **body: Any) -> Any:
    return client.post(path, {"schemas": [SEARCH], **body})


def test_users_search_is_the_get_query(directory: ScimClient) -> None:
    body = {
        "filter": 'userName ne "bob"',
        "sortBy": "userName",
        "sortOrder": "descending",
        "attributes": ["userName", "name.givenName"],
        "startIndex": 1,
        "count": 10,
    }
    response = search(directory, "/Users/.search", **body)
    assert response.status_code == 200, response.text
    got = response.json()
    assert [u["userName"] for u in got["Resources"]] == ["carol", "alice"]
    assert set(got["Resources"][0]) == {"schemas", "id", "userName", "name"}
    as_get = directory.get(
        "/Users",
        params={
            "filter": 'userName ne "bob"',
            "sortBy": "userName",
            "sortOrder": "descending",
            "attributes": "userName,name.givenName",
        },
    )
    assert as_get.json() == got


def test_groups_search(directory: ScimClient) -> None:
    got = search(
        directory, "/Groups/.search", filter='displayName sw "a"', excludedAttributes=["members"]
    ).json()
    assert [g["displayName"] for g in got["Resources"]] == ["Admins"]
    assert "members" not in got["Resources"][0]


def test_root_search_pages_over_both_types(directory: ScimClient) -> None:
    everything = search(directory, "/.search").json()
    assert everything["totalResults"] == 5
    kinds = [r["meta"]["resourceType"] for r in everything["Resources"]]
    assert kinds == ["User", "User", "User", "Group", "Group"]
    page = search(directory, "/.search", startIndex=3, count=2).json()
    assert [r["meta"]["resourceType"] for r in page["Resources"]] == ["User", "Group"]
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 3, 2)
    # userName exists on users only: groups simply do not match.
    users_only = search(directory, "/.search", filter='userName eq "bob"').json()
    assert [r.get("userName") for r in users_only["Resources"]] == ["bob"]
    assert_scim_error(search(directory, "/.search", filter='shoeSize eq "9"'), 400, "invalidFilter")


def test_search_errors(directory: ScimClient) -> None:
    assert_scim_error(
        search(directory, "/Users/.search", filter="userName eq"), 400, "invalidFilter"
    )
    assert_scim_error(search(directory, "/Users/.search", count="ten"), 400, "invalidValue")
    assert_scim_error(search(directory, "/Groups/.search", sortOrder="up"), 400, "invalidValue")


def test_excluding_members_never_reads_the_membership_table(
    directory: ScimClient, monkeypatch: Any
) -> None:
    def forbidden(*args: Any) -> None:
        raise AssertionError("members were read")

    monkeypatch.setattr("app.members.members_of", forbidden)
    listed = directory.get("/Groups", params={"excludedAttributes": "members"})
    assert listed.status_code == 200 and listed.json()["totalResults"] == 2
    only_name = directory.get("/Groups", params={"attributes": "displayName"})
    assert only_name.status_code == 200
    assert all(set(g) == {"schemas", "id", "displayName"} for g in only_name.json()["Resources"])
    monkeypatch.setattr("app.members.groups_of", forbidden)
    users = directory.get("/Users", params={"excludedAttributes": "groups"})
    assert users.status_code == 200
    assert users.json()["Resources"] and all("groups" not in u for u in users.json()["Resources"])


ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.mark.parametrize("host", ["localhost", 'evil"host\\name'])
def test_each_resource_of_a_page_is_the_resource_read_alone(client: ScimClient, host: str) -> None:
    """A page splices resources from their stored JSON (app/rendering.py `listed`); each one
    must be exactly what GET /Users/{id} answers, whatever the strings and the Host hold."""
    plain = client.create_user("plain")
    odd = client.create_user(
        'quote"back\\slash',
        displayName='Zoë \u2603 "quoted" \\ </script> \ud83d\ude00',
        name={"givenName": "\n\t", "familyName": "O'Brien"},
        emails=[{"value": "z@example.com", "primary": True}],
    )
    extended = client.create_user(
        "extended", **{"schemas": [USER_SCHEMA, ENTERPRISE], ENTERPRISE: {"employeeNumber": "7"}}
    )
    client.create_group('Group "one" \\', [plain["id"], odd["id"]])
    client.create_group("Two", [odd["id"]])
    headers = {"Host": host}
    for params in ({}, {"filter": 'userName ne "nobody"'}, {"sortBy": "userName"}):
        page = client.get("/Users", params=params, headers=headers)
        assert page.status_code == 200, page.text
        listed = page.json()["Resources"]
        assert len(listed) == 3
        for resource in listed:
            alone = client.get(f"/Users/{resource['id']}", headers=headers).json()
            assert resource == alone
    ids = {r["id"] for r in listed}
    assert ids == {plain["id"], odd["id"], extended["id"]}
    everything = client.get("/", params={"filter": "id pr"}, headers=headers)
    assert everything.status_code == 200, everything.text
    for resource in everything.json()["Resources"]:
        kind = "Users" if USER_SCHEMA in resource["schemas"] else "Groups"
        assert resource == client.get(f"/{kind}/{resource['id']}", headers=headers).json()


def test_a_page_under_declared_schemas_is_each_resource_read_alone(declared: ScimClient) -> None:
    """With SCIM_SCHEMAS_DIR's `returned` rules, a page is projected like a single read."""
    acme = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"  # examples/schemas
    for n, name in enumerate(("ann", "bo")):
        declared.create_user(
            name,
            title="T",
            emails=[{"value": f"{name}@example.com"}],
            **{
                "schemas": [USER_SCHEMA, acme],
                acme: {"employeeId": f"E{n}", "badgeCode": "QUJD", "doorPin": "1234"},
            },
        )
    declared.create_user("cy")  # no extension object
    listed = declared.get("/Users").json()["Resources"]
    assert len(listed) == 3
    for resource in listed:
        assert resource == declared.get(f"/Users/{resource['id']}").json()
    ann = next(r for r in listed if r["userName"] == "ann")
    assert ann[acme] == {"employeeId": "E0"}  # badgeCode on request only, doorPin never


@pytest.mark.sqlite_only  # counts the statements SQLite runs
def test_a_page_runs_as_many_statements_whatever_its_size(client: ScimClient) -> None:
    """A page's related groups are read in one statement for all its resources, extension
    objects or not (app/rendering.py `listed`)."""
    ids = [
        client.create_user(
            f"u{n:02d}", **{"schemas": [USER_SCHEMA, ENTERPRISE], ENTERPRISE: {"department": "x"}}
        )["id"]
        for n in range(12)
    ]
    client.create_group("All", ids)

    def statements(count: int) -> int:
        seen: list[str] = []
        database.connection().set_trace_callback(seen.append)
        try:
            page = client.get("/Users", params={"count": count})
        finally:
            database.connection().set_trace_callback(None)
        assert len(page.json()["Resources"]) == count
        assert all(r["groups"][0]["display"] == "All" for r in page.json()["Resources"])
        return len(seen)

    statements(2)  # the count is read once and kept while nothing changes,
    statements(2)  # the positions of the rows once the database stayed unchanged for a page
    assert statements(12) == statements(2)


def test_pages_in_creation_order_stay_right_across_writes(client: ScimClient) -> None:
    """Pages of an unchanged database start at positions read once (app/store.py `_seq_at`);
    a write in between makes the next pages walk again, and the positions are read anew."""
    ids = {f"p{n:02d}": client.create_user(f"p{n:02d}")["id"] for n in range(30)}

    def page(start: int, count: int = 5) -> list[str]:
        found = client.get("/Users", params={"startIndex": start, "count": count}).json()
        return [r["userName"] for r in found.get("Resources", [])]

    def check() -> list[str]:
        everyone = page(1, 100)
        for _ in range(3):  # the first pages walk, the next ones use the positions
            for start in (1, 2, 17, 26, 30, 31, 40):
                assert page(start) == everyone[start - 1 : start + 4], start
        return everyone

    assert check() == sorted(ids)
    assert client.delete(f"/Users/{ids['p03']}").status_code == 204
    assert check() == [name for name in sorted(ids) if name != "p03"]
    client.create_user("p99")
    assert check()[-1] == "p99"
