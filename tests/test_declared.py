"""Declared attributes are first-class (issue #10 item 2), through HTTP with response validation
on, against the app built for examples/schemas (examples/schemas/acme_user.json declares them).

Each characteristic has its rows, accepted and refused side by side.
"""

from __future__ import annotations

from typing import Any

import pytest

from app import database, store
from app.resources import USER
from tests.conftest import USER_SCHEMA, ScimClient, assert_scim_error

ACME = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
ACME_GROUP = "urn:ietf:params:scim:schemas:extension:acme:2.0:Group"


def create(client: ScimClient, name: str = "u@x", **acme: Any) -> Any:
    return client.post("/Users", {"schemas": [USER_SCHEMA, ACME], "userName": name, ACME: acme})


def created(client: ScimClient, name: str = "u@x", **acme: Any) -> dict[str, Any]:
    response = create(client, name, **acme)
    assert response.status_code == 201, response.text
    return dict(response.json())


# (attribute, value sent, what is stored and returned)
# fmt: off
ACCEPTED: list[tuple[str, Any, Any]] = [
    ("costCenter", "CC-1", "CC-1"),
    ("clearanceLevel", 3, 3),
    ("hourlyRate", 12.5, 12.5),
    ("hourlyRate", 12, 12),
    ("remote", True, True),
    ("remote", "False", False),  # Entra's string booleans, as for active
    ("startDate", "2026-11-28T10:00:00Z", "2026-11-28T10:00:00.000Z"),
    ("startDate", "2026-11-28T11:00:00.5+01:00", "2026-11-28T10:00:00.500Z"),
    ("homePage", "https://acme.example/u", "https://acme.example/u"),
    ("region", "EMEA", "EMEA"),
    ("region", "emea", "EMEA"),  # caseExact false: the declared spelling is stored
    ("skills", ["sql", "go"], ["sql", "go"]),
    ("projects", [{"value": "p1", "role": "LEAD", "primary": True}], [{"value": "p1", "role": "lead", "primary": True}]),
    ("desk", {"building": "B", "floor": 2}, {"building": "B", "floor": 2}),
]
# fmt: on


@pytest.mark.parametrize(
    ("name", "sent", "stored"), ACCEPTED, ids=[f"{r[0]}={r[1]!r}" for r in ACCEPTED]
)
def test_a_value_of_the_declared_type_is_stored(
    declared: ScimClient, name: str, sent: Any, stored: Any
) -> None:
    user = created(declared, **{name: sent})
    assert user[ACME][name] == stored
    assert declared.get(f"/Users/{user['id']}").json()[ACME][name] == stored


# (attribute, value sent): 400 invalidValue naming the attribute
# fmt: off
REFUSED: list[tuple[str, Any]] = [
    ("costCenter", 5),
    ("costCenter", ["a"]),
    ("clearanceLevel", 3.5),
    ("clearanceLevel", "3"),
    ("clearanceLevel", True),
    ("hourlyRate", "12.5"),
    ("remote", "yes"),
    ("remote", 1),
    ("startDate", "2026-11-28"),
    ("startDate", "yesterday"),
    ("startDate", "2026-02-30T00:00:00Z"),  # the pattern allows it, the calendar does not
    ("startDate", "9999-12-31T23:59:59-23:59"),  # past year 9999 in UTC
    ("badgeCode", "not base64!"),
    ("badgeCode", "QUJ"),
    ("homePage", 7),
    ("region", "Mars"),
    ("skills", "sql"),
    ("skills", [1]),
    ("projects", [{"display": "no value"}]),  # value is a required sub-attribute
    ("projects", [{"value": "p1", "role": "boss"}]),
    ("projects", {"value": "p1"}),
    ("desk", "B12"),
    ("desk", {"floor": "two"}),
]
# fmt: on


@pytest.mark.parametrize(("name", "sent"), REFUSED, ids=[f"{r[0]}={r[1]!r}" for r in REFUSED])
def test_a_value_not_of_the_declared_type_is_400(
    declared: ScimClient, name: str, sent: Any
) -> None:
    body = assert_scim_error(create(declared, **{name: sent}), 400, "invalidValue")
    assert name in body["detail"], body["detail"]


@pytest.mark.parametrize(
    ("name", "sent"), REFUSED[:12], ids=[f"{r[0]}={r[1]!r}" for r in REFUSED[:12]]
)
def test_a_patch_value_not_of_the_declared_type_is_400(
    declared: ScimClient, name: str, sent: Any
) -> None:
    """PATCH values are not typed by the spec: app/characteristics.py refuses them."""
    user = created(declared)
    response = declared.patch(
        f"/Users/{user['id']}", [{"op": "replace", "path": f"{ACME}:{name}", "value": sent}]
    )
    body = assert_scim_error(response, 400, "invalidValue")
    assert f"{ACME}:{name}" in body["detail"], body["detail"]


def test_required_attributes_and_a_required_extension(make_client: Any, tmp_path: Any) -> None:
    from tests.conftest import app_for
    from tests.test_extensions import SCHEMA, USER_TYPE, write

    schema = {**SCHEMA, "attributes": [{"name": "badge", "type": "string", "required": True}]}
    user_type = {**USER_TYPE, "schemaExtensions": [{"schema": ACME, "required": True}]}
    folder = write(tmp_path / "schemas", {"acme.json": schema, "user.json": user_type})
    client = make_client(served=app_for(folder), schemas_dir=folder)
    missing_extension = client.post("/Users", {"userName": "a"})
    assert "required" in assert_scim_error(missing_extension, 400, "invalidValue")["detail"]
    missing_attribute = client.post("/Users", {"userName": "a", ACME: {}})
    assert_scim_error(missing_attribute, 400, "invalidValue")
    user = client.post("/Users", {"userName": "a", ACME: {"badge": "b1"}})
    assert user.status_code == 201, user.text
    path = f"/Users/{user.json()['id']}"
    assert_scim_error(client.put(path, {"userName": "a", ACME: {}}), 400, "invalidValue")
    removed = client.patch(path, [{"op": "remove", "path": f"{ACME}:badge"}])
    assert "badge is required" in assert_scim_error(removed, 400, "invalidValue")["detail"]


def test_read_only_is_ignored_on_write(declared: ScimClient) -> None:
    user = created(declared, lastAudit="2026-01-01T00:00:00Z", costCenter="c")
    assert "lastAudit" not in user[ACME]
    path = f"/Users/{user['id']}"
    patched = declared.patch(
        path, [{"op": "add", "value": {ACME: {"lastAudit": "2026-01-01T00:00:00Z"}}}]
    )
    assert patched.status_code == 200 and "lastAudit" not in patched.json()[ACME]
    direct = declared.patch(path, [{"op": "replace", "path": f"{ACME}:lastAudit", "value": "x"}])
    assert_scim_error(direct, 400, "mutability")


def test_immutable_is_set_once(declared: ScimClient) -> None:
    user = created(declared)
    path = f"/Users/{user['id']}"
    body = {"userName": "u@x", ACME: {"hireSource": "okta"}}
    assert declared.put(path, body).status_code == 200  # no value yet: it may be set
    assert declared.put(path, body).status_code == 200  # the same value again
    changed = {"userName": "u@x", ACME: {"hireSource": "workday"}}
    assert (
        "immutable" in assert_scim_error(declared.put(path, changed), 400, "mutability")["detail"]
    )
    assert_scim_error(declared.put(path, {"userName": "u@x"}), 400, "mutability")
    replaced = declared.patch(path, [{"op": "replace", "path": f"{ACME}:hireSource", "value": "x"}])
    assert_scim_error(replaced, 400, "mutability")
    removed = declared.patch(path, [{"op": "remove", "path": f"{ACME}:hireSource"}])
    assert_scim_error(removed, 400, "mutability")
    assert declared.get(path).json()[ACME]["hireSource"] == "okta"


def test_write_only_is_stored_and_never_returned(declared: ScimClient) -> None:
    user = created(declared, doorPin="1234", costCenter="c")
    assert "doorPin" not in user[ACME]
    path = f"/Users/{user['id']}"
    for query in ("", f"?attributes={ACME}:doorPin", f"?attributes={ACME}"):
        assert "doorPin" not in declared.get(path + query).json().get(ACME, {}), query
    assert store.fetch(USER, user["id"]).resource[ACME]["doorPin"] == "1234"
    found = declared.get("/Users", params={"filter": f'{ACME}:doorPin eq "1234"'})
    assert_scim_error(found, 400, "invalidFilter")
    sorted_by = declared.get("/Users", params={"sortBy": f"{ACME}:doorPin"})
    assert_scim_error(sorted_by, 400, "invalidValue")

    def pin() -> Any:
        return store.fetch(USER, user["id"]).resource.get(ACME, {}).get("doorPin")

    declared.put(path, {"userName": "u@x"})  # left out of a PUT, it is kept (as password is)
    assert pin() == "1234"
    declared.put(path, {"userName": "u@x", ACME: {"doorPin": "9999"}})
    assert pin() == "9999"
    declared.patch(path, [{"op": "remove", "path": f"{ACME}:doorPin"}])
    assert pin() is None


def test_returned_request_and_always(declared: ScimClient) -> None:
    user = created(declared, badgeCode="QUJD", employeeId="E1", costCenter="c")
    path = f"/Users/{user['id']}"
    assert "badgeCode" not in user[ACME] and "badgeCode" not in declared.get(path).json()[ACME]
    named = declared.get(path, params={"attributes": f"{ACME}:badgeCode"}).json()
    assert named[ACME] == {"badgeCode": "QUJD", "employeeId": "E1"}  # employeeId: always
    whole = declared.get(path, params={"attributes": ACME}).json()
    assert "badgeCode" not in whole[ACME] and whole[ACME]["costCenter"] == "c"
    others = declared.get(path, params={"attributes": "userName"}).json()
    assert others[ACME] == {"employeeId": "E1"}
    excluded = declared.get(path, params={"excludedAttributes": ACME}).json()
    assert excluded[ACME] == {"employeeId": "E1"}
    listed = declared.get("/Users", params={"excludedAttributes": f"{ACME}:employeeId"}).json()
    assert listed["Resources"][0][ACME]["employeeId"] == "E1"


def test_uniqueness_server_is_409(declared: ScimClient) -> None:
    first = created(declared, "a@x", employeeId="E1")
    taken = assert_scim_error(create(declared, "b@x", employeeId="e1"), 409, "uniqueness")
    assert taken["detail"] == f"{ACME}:employeeId 'e1' is already taken"  # caseExact false
    other = created(declared, "b@x", employeeId="E2")
    path = f"/Users/{other['id']}"
    assert_scim_error(
        declared.put(path, {"userName": "b@x", ACME: {"employeeId": "E1"}}), 409, "uniqueness"
    )
    moved = declared.patch(path, [{"op": "replace", "path": f"{ACME}:employeeId", "value": "E1"}])
    assert_scim_error(moved, 409, "uniqueness")
    declared.delete(f"/Users/{first['id']}")
    assert (
        declared.patch(
            path, [{"op": "replace", "path": f"{ACME}:employeeId", "value": "E1"}]
        ).status_code
        == 200
    )


def test_uniqueness_honours_case_exact_on_groups(declared: ScimClient) -> None:
    def group(name: str, code: str) -> Any:
        return declared.post(
            "/Groups", {"displayName": name, ACME_GROUP: {"groupCode": code, "budget": 1.5}}
        )

    assert group("a", "G1").status_code == 201
    assert group("b", "g1").status_code == 201  # caseExact true: another value
    assert_scim_error(group("c", "G1"), 409, "uniqueness")
    found = declared.get("/Groups", params={"filter": f'{ACME_GROUP}:groupCode eq "g1"'}).json()
    assert [g["displayName"] for g in found["Resources"]] == ["b"]


@pytest.fixture
def people(declared: ScimClient) -> ScimClient:
    created(declared, "ann@x", costCenter="CC1", clearanceLevel=1, remote=True, startDate="2026-01-01T00:00:00Z",
            homePage="https://a.example", skills=["sql"], projects=[{"value": "p1", "role": "lead"}],
            desk={"building": "B", "floor": 1}, employeeId="E1")  # fmt: skip
    created(declared, "bob@x", costCenter="cc2", clearanceLevel=3, remote=False, startDate="2026-06-01T00:00:00+02:00",
            homePage="https://B.example", skills=["go", "SQL"], projects=[{"value": "p2", "role": "member"}],
            desk={"building": "C", "floor": 4}, employeeId="E2")  # fmt: skip
    created(declared, "cid@x", region="APAC")
    return declared


# (filter, the userNames it finds)
# fmt: off
FILTERS = [
    (f'{ACME}:costCenter eq "cc1"', ["ann@x"]),  # caseExact false
    (f'{ACME}:costCenter sw "CC"', ["ann@x", "bob@x"]),
    (f"{ACME}:clearanceLevel gt 1", ["bob@x"]),
    ("clearanceLevel ge 1", ["ann@x", "bob@x"]),  # unqualified: the name is unique
    (f"{ACME}:remote eq false", ["bob@x"]),
    (f'{ACME}:startDate lt "2026-05-31T21:00:00Z"', ["ann@x"]),
    (f'{ACME}:startDate eq "2026-05-31T22:00:00Z"', ["bob@x"]),
    (f'{ACME}:homePage eq "https://b.example"', []),  # caseExact true
    (f'{ACME}:skills eq "sql"', ["ann@x", "bob@x"]),
    (f'{ACME}:projects[value eq "p2" and role eq "member"]', ["bob@x"]),
    (f'{ACME}:projects.role eq "lead"', ["ann@x"]),
    (f"{ACME}:desk.floor ge 2", ["bob@x"]),
    (f"{ACME}:region pr", ["cid@x"]),
    (f'{ACME}:employeeId eq "e2"', ["bob@x"]),
    (f'schemas eq "{ACME}"', ["ann@x", "bob@x", "cid@x"]),
    (f'not ({ACME}:costCenter pr) or {ACME}:clearanceLevel lt 2', ["ann@x", "cid@x"]),
]
# fmt: on


@pytest.mark.parametrize(
    ("text", "found"), FILTERS, ids=[f[0].replace(ACME + ":", "") for f in FILTERS]
)
def test_filters_on_declared_attributes(people: ScimClient, text: str, found: list[str]) -> None:
    response = people.get("/Users", params={"filter": text})
    assert response.status_code == 200, response.text
    assert [u["userName"] for u in response.json()["Resources"]] == found


@pytest.mark.parametrize(
    "text",
    [
        'costCenter eq "x"',  # both extensions define costCenter: qualify it
        f'{ACME}:clearanceLevel eq "3"',
        f"{ACME}:remote gt true",
        f'{ACME}:nope eq "x"',
        f'{ACME}:desk eq "B"',
    ],
)
def test_refused_filters_on_declared_attributes(declared: ScimClient, text: str) -> None:
    assert_scim_error(declared.get("/Users", params={"filter": text}), 400, "invalidFilter")


@pytest.mark.parametrize(
    ("sort_by", "order", "names"),
    [
        (f"{ACME}:clearanceLevel", "descending", ["bob@x", "ann@x", "cid@x"]),
        (f"{ACME}:costCenter", "ascending", ["ann@x", "bob@x", "cid@x"]),
        (f"{ACME}:desk.floor", "descending", ["bob@x", "ann@x", "cid@x"]),
    ],
)
def test_sorting_by_declared_attributes(
    people: ScimClient, sort_by: str, order: str, names: list[str]
) -> None:
    response = people.get("/Users", params={"sortBy": sort_by, "sortOrder": order})
    assert [u["userName"] for u in response.json()["Resources"]] == names


def test_patch_paths_on_declared_attributes(declared: ScimClient) -> None:
    user = created(
        declared, projects=[{"value": "p1", "role": "member"}], desk={"building": "B", "floor": 1}
    )
    path = f"/Users/{user['id']}"
    operations = [
        {"op": "replace", "path": f"{ACME}:costCenter", "value": "CC9"},
        {"op": "replace", "path": f'{ACME}:projects[value eq "p1"].role', "value": "LEAD"},
        {"op": "add", "path": f"{ACME}:projects", "value": [{"value": "p2"}]},
        {"op": "remove", "path": f"{ACME}:desk.floor"},
        {"op": "add", "path": f"{ACME}:skills", "value": ["a", "b"]},
        {"op": "replace", "value": {ACME: {"remote": "true"}, "clearanceLevel": 2}},
    ]
    response = declared.patch(path, operations)
    assert response.status_code == 200, response.text
    assert response.json()[ACME] == {
        "projects": [{"value": "p1", "role": "lead"}, {"value": "p2"}],
        "desk": {"building": "B"},
        "costCenter": "CC9",
        "skills": ["a", "b"],
        "remote": True,
        "clearanceLevel": 2,
    }
    removed = declared.patch(path, [{"op": "remove", "path": f'{ACME}:projects[value eq "p2"]'}])
    assert removed.json()[ACME]["projects"] == [{"value": "p1", "role": "lead"}]
    cleared = declared.patch(path, [{"op": "remove", "path": ACME}])
    assert ACME not in cleared.json() and cleared.json()["schemas"] == [USER_SCHEMA]
    unknown = declared.patch(path, [{"op": "add", "path": f"{ACME}:nope", "value": 1}])
    assert_scim_error(unknown, 400, "invalidPath")


def test_attribute_selection_of_declared_attributes(people: ScimClient) -> None:
    listed = people.get(
        "/Users",
        params={
            "attributes": f"{ACME}:costCenter,{ACME}:desk.floor",
            "filter": 'userName eq "ann@x"',
        },
    )
    assert listed.json()["Resources"][0][ACME] == {
        "costCenter": "CC1",
        "desk": {"floor": 1},
        "employeeId": "E1",
    }
    excluded = people.get(
        "/Users",
        params={
            "excludedAttributes": f"{ACME}:desk.building,{ACME}:skills",
            "filter": 'userName eq "ann@x"',
        },
    )
    block = excluded.json()["Resources"][0][ACME]
    assert block["desk"] == {"floor": 1} and "skills" not in block and block["costCenter"] == "CC1"


def test_the_enterprise_extension_keeps_working(declared: ScimClient) -> None:
    enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    body = {
        "userName": "e@x",
        enterprise: {"costCenter": "ent", "manager": "boss"},
        ACME: {"costCenter": "acme"},
    }
    user = declared.post("/Users", body).json()
    assert user[enterprise] == {"costCenter": "ent", "manager": {"value": "boss"}}
    assert user[ACME] == {"costCenter": "acme"}
    found = declared.get("/Users", params={"filter": f'{enterprise}:costCenter eq "ENT"'}).json()
    assert found["totalResults"] == 1


def test_declared_attributes_are_stored_in_the_resource_json(declared: ScimClient) -> None:
    user = created(declared, costCenter="c", clearanceLevel=2)
    with database.write_sync():
        row = store.fetch(USER, user["id"])
    assert row.resource[ACME] == {"costCenter": "c", "clearanceLevel": 2}
