"""The RFCs' own examples (tests/samples/, named after their section) through the HTTP API."""

from __future__ import annotations

import copy
from typing import Any

from tests.conftest import ScimClient, load_sample

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
BABS = "2819c223-7f76-453a-919d-413861904646"
JAMES = "08e1d05d-121c-4561-8b96-473d93df9210"


def expected_user(sample: dict[str, Any]) -> dict[str, Any]:
    """What the server returns for the sample: no password, server-owned id/meta/groups."""
    expected = copy.deepcopy(sample)
    for read_only in ("id", "meta", "groups", "password"):
        expected.pop(read_only)
    del expected[ENT]["manager"]["displayName"]  # readOnly in RFC 7643 §4.3
    return expected


def test_rfc7643_8_3_enterprise_user_round_trip(client: ScimClient) -> None:
    sample = load_sample("rfc7643-8.3-enterprise_user.json")
    created = client.post("/Users", sample)
    assert created.status_code == 201, created.text
    got = client.get(f"/Users/{created.json()['id']}").json()
    assert {k: v for k, v in got.items() if k not in ("id", "meta")} == expected_user(sample)
    assert got["meta"]["resourceType"] == "User"


def test_rfc7644_3_5_2_3_replace_work_address(client: ScimClient) -> None:
    user = client.post("/Users", load_sample("rfc7643-8.3-enterprise_user.json")).json()
    patched = client.request(
        "PATCH",
        f"/Users/{user['id']}",
        load_sample("rfc7644-3.5.2.3-patch_op-replace_work_address.json"),
    )
    assert patched.status_code == 200, patched.text
    addresses = patched.json()["addresses"]
    assert (
        addresses[0]["streetAddress"] == "911 Universal City Plaza"
        and addresses[0]["country"] == "US"
    )
    assert addresses[1] == user["addresses"][1]


def test_rfc7644_3_5_2_3_replace_without_path(client: ScimClient) -> None:
    user = client.post("/Users", load_sample("rfc7643-8.3-enterprise_user.json")).json()
    patched = client.request(
        "PATCH",
        f"/Users/{user['id']}",
        load_sample("rfc7644-3.5.2.3-patch_op-replace_pathless.json"),
    ).json()
    assert patched["emails"] == [{"value": "bjensen@example.com", "type": "work", "primary": True}]
    assert patched["nickName"] == "Babs"


def group_with_two_users(client: ScimClient) -> tuple[str, str, str]:
    babs = client.create_user("bjensen")["id"]
    james = client.create_user("jsmith")["id"]
    group = client.create_group("Tour Guides")["id"]
    return group, babs, james


def patch_sample(client: ScimClient, group: str, name: str, babs: str, james: str) -> list[str]:
    body = load_sample(name)
    text = _swap_ids(body, babs, james)
    response = client.request("PATCH", f"/Groups/{group}", text)
    assert response.status_code == 200, response.text
    return [m["value"] for m in response.json().get("members", [])]


def _swap_ids(body: Any, babs: str, james: str) -> Any:
    # The samples name the RFC's user ids; ours are server-assigned.
    if isinstance(body, str):
        return body.replace(BABS, babs).replace(JAMES, james)
    if isinstance(body, list):
        return [_swap_ids(v, babs, james) for v in body]
    if isinstance(body, dict):
        return {k: _swap_ids(v, babs, james) for k, v in body.items()}
    return body


def test_rfc7644_3_5_2_member_examples(client: ScimClient) -> None:
    group, babs, james = group_with_two_users(client)
    assert patch_sample(
        client, group, "rfc7644-3.5.2.1-patch_op-add_members.json", babs, james
    ) == [babs]
    assert (
        patch_sample(client, group, "rfc7644-3.5.2.2-patch_op-remove_member.json", babs, james)
        == []
    )
    assert patch_sample(
        client, group, "rfc7644-3.5.2.2-patch_op-remove_and_add_members.json", babs, james
    ) == [babs, james]
    assert patch_sample(
        client, group, "rfc7644-3.5.2.2-patch_op-remove_member.json", babs, james
    ) == [james]
    assert patch_sample(
        client, group, "rfc7644-3.5.2.3-patch_op-replace_members.json", babs, james
    ) == [babs, james]
