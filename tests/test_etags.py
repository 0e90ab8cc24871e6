"""ETags and conditional requests (RFC 7644 §3.14)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ScimClient, assert_scim_error


def test_every_change_changes_the_version(client: ScimClient) -> None:
    user = client.create_user("u")
    tags = [user["meta"]["version"]]
    client.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "title", "value": "T"}])
    tags.append(client.get(f"/Users/{user['id']}").headers["ETag"])
    client.put(f"/Users/{user['id']}", {"userName": "u"})
    response = client.get(f"/Users/{user['id']}")
    tags.append(response.headers["ETag"])
    assert response.json()["meta"]["version"] == response.headers["ETag"]
    assert len(set(tags)) == 3 and all(t.startswith('W/"') for t in tags)


@pytest.mark.parametrize("kind", ["Users", "Groups"])
def test_if_none_match(client: ScimClient, kind: str) -> None:
    created = client.create_user("u") if kind == "Users" else client.create_group("g")
    path = f"/{kind}/{created['id']}"
    tag = created["meta"]["version"]
    for header in (tag, tag.removeprefix("W/"), f'"other", {tag}', "*"):
        response = client.get(path, headers={"If-None-Match": header})
        assert response.status_code == 304 and not response.content
        assert response.headers["ETag"] == tag
    changed = client.get(path, headers={"If-None-Match": 'W/"999"'})
    assert changed.status_code == 200 and changed.json() == created


@pytest.mark.parametrize("kind", ["Users", "Groups"])
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_stale_if_match_is_412_and_changes_nothing(
    client: ScimClient, kind: str, method: str
) -> None:
    created = client.create_user("u") if kind == "Users" else client.create_group("g")
    path = f"/{kind}/{created['id']}"
    body: Any = {
        "PUT": {"userName": "v"} if kind == "Users" else {"displayName": "h"},
        "PATCH": {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "externalId", "value": "x"}],
        },
        "DELETE": None,
    }[method]
    stale = client.request(method, path, body, headers={"If-Match": 'W/"999"'})
    assert_scim_error(stale, 412)
    assert client.get(path).json() == client.get(path).json() == {**created}
    fresh = client.request(method, path, body, headers={"If-Match": created["meta"]["version"]})
    assert fresh.status_code in (200, 204), fresh.text
    assert client.request(method, path, body, headers={"If-Match": "*"}).status_code in (
        200,
        204,
        404,
    )


def test_two_patches_with_the_same_if_match(client: ScimClient) -> None:
    user = client.create_user("u")
    tag = user["meta"]["version"]
    operations = [{"op": "replace", "path": "active", "value": False}]
    first = client.patch(f"/Users/{user['id']}", operations, headers={"If-Match": tag})
    second = client.patch(f"/Users/{user['id']}", operations, headers={"If-Match": tag})
    assert first.status_code == 200 and first.json()["active"] is False
    assert first.headers["ETag"] == first.json()["meta"]["version"] != tag
    assert_scim_error(second, 412)


def test_membership_change_changes_the_group_etag(client: ScimClient) -> None:
    user = client.create_user("u")
    group = client.create_group("g")
    response = client.patch(
        f"/Groups/{group['id']}",
        [{"op": "add", "path": "members", "value": [{"value": user["id"]}]}],
    )
    assert response.headers["ETag"] != group["meta"]["version"]
    assert (
        client.get(
            f"/Groups/{group['id']}", headers={"If-None-Match": group["meta"]["version"]}
        ).status_code
        == 200
    )


def test_big_group_patch_answers_204_unless_attributes_are_selected(make_client: Any) -> None:
    client = make_client(patch_returns_members_up_to=3)
    ids = [client.create_user(f"u{i}")["id"] for i in range(5)]
    group = client.create_group("g", ids[:3])
    add = [{"op": "add", "path": "members", "value": [{"value": ids[3]}]}]
    small = client.patch(
        f"/Groups/{group['id']}", [{"op": "replace", "path": "externalId", "value": "e"}]
    )
    assert small.status_code == 200 and len(small.json()["members"]) == 3
    big = client.patch(f"/Groups/{group['id']}", add)
    assert big.status_code == 204 and not big.content and big.headers["ETag"]
    selected = client.patch(
        f"/Groups/{group['id']}",
        [{"op": "add", "path": "members", "value": [{"value": ids[4]}]}],
        params={"excludedAttributes": "members"},
    )
    assert selected.status_code == 200 and "members" not in selected.json()
    assert selected.json()["displayName"] == "g"


def test_service_provider_config_says_etags(client: ScimClient) -> None:
    assert client.get("/ServiceProviderConfig").json()["etag"]["supported"] is True
