"""Objects under extension URNs no document declares (issue #10 item 3): kept and returned as
sent by default, with their URN in `schemas`; SCIM_UNDECLARED_EXTENSIONS=ignore or reject."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import USER_SCHEMA, ScimClient, assert_scim_error

CUSTOM = "urn:ietf:params:scim:schemas:extension:custom:2.0:User"
SPACE = "urn:ietf:params:scim:schemas:custom:Space"  # a namespace as free as Okta's field
SENT = {"costCenter": "CC-7", "flags": [1, "two", {"three": None}], "nested": {"a": {"b": True}}}


def user(name: str = "u@x", schemas: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"schemas": schemas or [USER_SCHEMA], "userName": name, **extra}


@pytest.mark.parametrize(
    "listed", [[USER_SCHEMA, CUSTOM], [USER_SCHEMA]], ids=["in schemas", "not in schemas"]
)
def test_an_undeclared_object_is_kept_as_sent(client: ScimClient, listed: list[str]) -> None:
    response = client.post("/Users", user(schemas=listed, **{CUSTOM: SENT}))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created[CUSTOM] == SENT and created["schemas"] == [USER_SCHEMA, CUSTOM]
    assert client.get(f"/Users/{created['id']}").json()[CUSTOM] == SENT


def test_a_urn_in_schemas_without_an_object_is_fine(client: ScimClient) -> None:
    created = client.post("/Users", user(schemas=[USER_SCHEMA, CUSTOM])).json()
    assert CUSTOM not in created and created["schemas"] == [USER_SCHEMA]


def test_put_replaces_and_removes_objects(client: ScimClient) -> None:
    created = client.post("/Users", user(**{CUSTOM: SENT, SPACE: {"desk": "4B"}})).json()
    path = f"/Users/{created['id']}"
    replaced = client.put(path, user(**{CUSTOM: {"costCenter": "CC-8"}})).json()
    assert replaced[CUSTOM] == {"costCenter": "CC-8"} and SPACE not in replaced
    assert replaced["schemas"] == [USER_SCHEMA, CUSTOM]
    emptied = client.put(path, user()).json()
    assert CUSTOM not in emptied and emptied["schemas"] == [USER_SCHEMA]


def test_selection_and_schemas_filter_see_undeclared_objects(client: ScimClient) -> None:
    client.post("/Users", user("a@x", **{CUSTOM: SENT}))
    client.post("/Users", user("b@x", **{SPACE: {"desk": "4B"}}))
    found = client.get("/Users", params={"filter": f'schemas eq "{CUSTOM.upper()}"'}).json()
    assert [u["userName"] for u in found["Resources"]] == ["a@x"]
    prefixed = client.get(
        "/Users", params={"filter": 'schemas sw "urn:ietf:params:scim:schemas:custom"'}
    )
    assert [u["userName"] for u in prefixed.json()["Resources"]] == ["b@x"]
    only = client.get("/Users", params={"attributes": CUSTOM, "filter": 'userName eq "a@x"'}).json()
    assert only["Resources"][0][CUSTOM] == SENT and "userName" not in only["Resources"][0]
    without = client.get("/Users", params={"excludedAttributes": SPACE.lower()}).json()
    assert all(SPACE not in u for u in without["Resources"])
    unfilterable = client.get("/Users", params={"filter": f'{CUSTOM}:costCenter eq "CC-7"'})
    assert_scim_error(unfilterable, 400, "invalidFilter")


def test_urn_qualified_keys_go_into_their_object(client: ScimClient) -> None:
    body = user(**{f"{CUSTOM}:costCenter": "CC-1", f"{CUSTOM}:building": "B"})
    assert client.post("/Users", body).json()[CUSTOM] == {"costCenter": "CC-1", "building": "B"}


def test_patch_sets_and_removes_undeclared_attributes(client: ScimClient) -> None:
    created = client.post("/Users", user(**{CUSTOM: {"costCenter": "CC-1", "keep": 1}})).json()
    path = f"/Users/{created['id']}"
    operations = [
        {"op": "replace", "path": f"{CUSTOM}:costCenter", "value": "CC-2"},
        {"op": "add", "path": f"{SPACE}:desk", "value": "4B"},
        {"op": "replace", "value": {f"{CUSTOM}:floor": 4, CUSTOM.upper(): {"wing": "east"}}},
    ]
    patched = client.patch(path, operations).json()
    assert patched[CUSTOM] == {"costCenter": "CC-2", "keep": 1, "floor": 4, "wing": "east"}
    assert patched[SPACE] == {"desk": "4B"}
    removed = client.patch(
        path, [{"op": "remove", "path": f"{CUSTOM}:keep"}, {"op": "remove", "path": SPACE}]
    )
    assert removed.json()[CUSTOM] == {"costCenter": "CC-2", "floor": 4, "wing": "east"}
    assert SPACE not in removed.json()
    cleared = client.patch(
        path, [{"op": "replace", "value": {CUSTOM: {"costCenter": None, "floor": "", "wing": []}}}]
    )
    assert CUSTOM not in cleared.json()
    filtered = client.patch(path, [{"op": "remove", "path": f'{CUSTOM}:things[value eq "x"]'}])
    assert_scim_error(filtered, 400, "invalidPath")


def test_ignore_leaves_them_out(make_client: Any) -> None:
    client = make_client(undeclared_extensions="ignore")
    created = client.post("/Users", user(schemas=[USER_SCHEMA, CUSTOM], **{CUSTOM: SENT}))
    assert created.status_code == 201 and CUSTOM not in created.json()
    patched = client.patch(
        f"/Users/{created.json()['id']}", [{"op": "add", "path": f"{CUSTOM}:x", "value": 1}]
    )
    assert patched.status_code == 200 and CUSTOM not in patched.json()


def test_reject_is_400(make_client: Any) -> None:
    client = make_client(undeclared_extensions="reject")
    refused = assert_scim_error(client.post("/Users", user(**{CUSTOM: SENT})), 400, "invalidSyntax")
    assert CUSTOM in refused["detail"]
    created = client.create_user("u@x")
    patched = client.patch(
        f"/Users/{created['id']}", [{"op": "add", "path": f"{CUSTOM}:x", "value": 1}]
    )
    assert_scim_error(patched, 400, "invalidSyntax")
    # the enterprise extension is declared: never refused
    enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    assert (
        client.post("/Users", user("e@x", **{enterprise: {"department": "R&D"}})).status_code == 201
    )


@pytest.mark.parametrize(
    "key", ["urn:foo", "urn:ietf:params:scim:schemas:custom:2.0:User:bad name"]
)
def test_a_urn_key_that_names_nothing_is_400(client: ScimClient, key: str) -> None:
    assert_scim_error(client.post("/Users", user(**{key: "x"})), 400, "invalidValue")


def test_groups_keep_them_too(client: ScimClient) -> None:
    group = "urn:example:custom:2.0:Group"
    created = client.post("/Groups", {"displayName": "g", group: {"budget": 3}}).json()
    assert created[group] == {"budget": 3} and group in created["schemas"]
