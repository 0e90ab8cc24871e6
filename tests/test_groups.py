"""/Groups over HTTP: membership as rows, big PATCHes, versions, cascades."""

from __future__ import annotations

from tests.conftest import GROUP_SCHEMA, ScimClient, assert_scim_error, seed_users


def members(client: ScimClient, group_id: str) -> list[str]:
    return [m["value"] for m in client.get(f"/Groups/{group_id}").json().get("members", [])]


def test_okta_sized_membership_patch(client: ScimClient) -> None:
    # Okta sends up to 256 members in one PATCH: one transaction, all or nothing.
    ids = seed_users({"userName": f"u{i}"} for i in range(300))
    group = client.create_group("Big")
    response = client.patch(
        f"/Groups/{group['id']}",
        [
            {"op": "add", "path": "members", "value": [{"value": i} for i in ids[:256]]},
            {"op": "remove", "path": f'members[value eq "{ids[0]}"]'},
        ],
    )
    assert response.status_code == 200
    assert [m["value"] for m in response.json()["members"]] == ids[1:256]
    assert members(client, group["id"]) == ids[1:256]
    bad = [
        {
            "op": "add",
            "path": "members",
            "value": [{"value": i} for i in ids[256:]] + [{"value": "ghost"}],
        }
    ]
    assert_scim_error(client.patch(f"/Groups/{group['id']}", bad), 400, "invalidValue")
    assert members(client, group["id"]) == ids[1:256]  # nothing of the failed PATCH landed


def test_membership_changes_bump_the_group_version(client: ScimClient) -> None:
    user = client.create_user("u")
    group = client.create_group("G")
    versions = [group["meta"]["version"]]
    client.patch(
        f"/Groups/{group['id']}",
        [{"op": "add", "path": "members", "value": [{"value": user["id"]}]}],
    )
    versions.append(client.get(f"/Groups/{group['id']}").json()["meta"]["version"])
    client.delete(f"/Users/{user['id']}")  # deleting a member changes the group too
    after = client.get(f"/Groups/{group['id']}").json()
    versions.append(after["meta"]["version"])
    assert len(set(versions)) == 3
    assert "members" not in after


def test_entra_style_removal_by_value_list(client: ScimClient) -> None:
    a, b = client.create_user("a")["id"], client.create_user("b")["id"]
    group = client.create_group("G", [a, b])
    client.patch(
        f"/Groups/{group['id']}", [{"op": "Remove", "path": "members", "value": [{"value": a}]}]
    )
    assert members(client, group["id"]) == [b]
    client.patch(f"/Groups/{group['id']}", [{"op": "remove", "path": "members"}])
    assert members(client, group["id"]) == []


def test_removal_by_other_member_filters(client: ScimClient) -> None:
    a, b = client.create_user("a")["id"], client.create_user("b")["id"]
    group = client.create_group("G", [a, b])
    response = client.patch(
        f"/Groups/{group['id']}",
        [{"op": "remove", "path": f'members[value eq "{a}" or value eq "{b}"]'}],
    )
    assert response.status_code == 200 and members(client, group["id"]) == []
    client.patch(
        f"/Groups/{group['id']}",
        [{"op": "add", "path": "members", "value": [{"value": a}, {"value": b}]}],
    )
    client.patch(f"/Groups/{group['id']}", [{"op": "remove", "path": 'members[display eq "A"]'}])
    assert members(client, group["id"]) == [b]
    nothing = client.patch(
        f"/Groups/{group['id']}", [{"op": "remove", "path": 'members[display eq "zzz"]'}]
    )
    assert_scim_error(nothing, 400, "noTarget")


def test_removing_a_non_member_is_a_no_op(client: ScimClient) -> None:
    # Okta retries a PATCH whose answer it missed; the retry must succeed.
    a = client.create_user("a")["id"]
    group = client.create_group("G")
    response = client.patch(
        f"/Groups/{group['id']}", [{"op": "remove", "path": f'members[value eq "{a}"]'}]
    )
    assert response.status_code == 200 and "members" not in response.json()


def test_pathless_members_in_value(client: ScimClient) -> None:
    a = client.create_user("a")["id"]
    group = client.create_group("G")
    response = client.patch(
        f"/Groups/{group['id']}",
        [{"op": "replace", "value": {"displayName": "H", "members": [{"value": a}]}}],
    )
    assert response.json()["displayName"] == "H" and members(client, group["id"]) == [a]
    client.patch(f"/Groups/{group['id']}", [{"op": "replace", "value": {"members": []}}])
    assert members(client, group["id"]) == []


def test_member_errors(client: ScimClient) -> None:
    group = client.create_group("G")
    other = client.create_group("Nested")
    cases = [
        [{"op": "add", "path": "members", "value": [{"value": "ghost"}]}],
        [{"op": "add", "path": "members", "value": [{"value": other["id"], "type": "Group"}]}],
        [{"op": "add", "path": "members", "value": [{"display": "no value"}]}],
        [{"op": "add", "path": "members", "value": "not-a-list"}],
    ]
    for operations in cases:
        assert_scim_error(client.patch(f"/Groups/{group['id']}", operations), 400, "invalidValue")
    assert_scim_error(
        client.patch(
            f"/Groups/{group['id']}", [{"op": "add", "path": "members.value", "value": "x"}]
        ),
        400,
        "invalidPath",
    )
    assert_scim_error(
        client.post(
            "/Groups",
            {"schemas": [GROUP_SCHEMA], "displayName": "X", "members": [{"value": "ghost"}]},
        ),
        400,
        "invalidValue",
    )
    assert (
        client.get("/Groups", params={"filter": 'displayName eq "X"'}).json()["totalResults"] == 0
    )


def test_group_display_name_is_required(client: ScimClient) -> None:
    group = client.create_group("G")
    assert_scim_error(
        client.patch(f"/Groups/{group['id']}", [{"op": "remove", "path": "displayName"}]),
        400,
        "invalidValue",
    )
    assert_scim_error(client.post("/Groups", {"schemas": [GROUP_SCHEMA]}), 400, "invalidValue")


def test_read_only_member_display_comes_from_the_user(client: ScimClient) -> None:
    user = client.create_user("jdoe", displayName="Jane Doe")
    group = client.create_group("G", [user["id"]])
    got = client.get(f"/Groups/{group['id']}").json()["members"][0]
    assert (
        got["display"] == "Jane Doe"
        and got["type"] == "User"
        and got["$ref"].endswith(f"/Users/{user['id']}")
    )


def test_a_thousand_member_operations_in_one_patch(client: ScimClient) -> None:
    ids = seed_users({"userName": f"m{i}"} for i in range(1000))
    group = client.create_group("Thousand")
    operations = [{"op": "add", "path": "members", "value": [{"value": i}]} for i in ids[:999]]
    failing = [*operations, {"op": "add", "path": "members", "value": [{"value": "ghost"}]}]
    assert_scim_error(client.patch(f"/Groups/{group['id']}", failing), 400, "invalidValue")
    assert members(client, group["id"]) == []  # one transaction: the 999 good ones did not land
    response = client.patch(
        f"/Groups/{group['id']}",
        [*operations, {"op": "add", "path": "members", "value": [{"value": ids[999]}]}],
    )
    assert response.status_code == 200 and len(response.json()["members"]) == 1000
    assert members(client, group["id"]) == ids
