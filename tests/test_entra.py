"""Microsoft Entra's provisioning requests, with the exact bodies it sends.

Sources: Microsoft's "Develop and plan provisioning for a SCIM endpoint" request/response
examples, and the non-standard shapes Entra is known for (capitalised ops, removal of members
by value list, dotted and URN-qualified keys in path-less values, booleans as strings).
"""

from __future__ import annotations

from typing import Any

from tests.conftest import PATCH_SCHEMA, ScimClient, seed_users

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

CREATE_USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@testuser.com",
    "active": True,
    "emails": [
        {
            "primary": True,
            "type": "work",
            "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com",
        }
    ],
    "meta": {"resourceType": "User"},
    "name": {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName",
    },
    "roles": [],
}


def patch(client: ScimClient, path: str, operations: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.request("PATCH", path, {"schemas": [PATCH_SCHEMA], "Operations": operations})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_entra_user_lifecycle(client: ScimClient) -> None:
    lookup = client.get(
        "/Users", params={"filter": f'userName eq "{CREATE_USER["userName"]}"'}
    ).json()
    assert lookup["totalResults"] == 0
    created = client.post("/Users", CREATE_USER)
    assert created.status_code == 201, created.text
    user = created.json()
    assert "roles" not in user and user["meta"]["resourceType"] == "User"
    path = f"/Users/{user['id']}"
    updated = patch(
        client,
        path,
        [
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": "updatedEmail@microsoft.com",
            },
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        ],
    )
    assert updated["emails"] == [
        {"primary": True, "type": "work", "value": "updatedEmail@microsoft.com"}
    ]
    assert updated["name"]["familyName"] == "updatedFamilyName"
    disabled = patch(client, path, [{"op": "Replace", "path": "active", "value": "False"}])
    assert disabled["active"] is False
    found = client.get(
        "/Users", params={"filter": f'userName eq "{CREATE_USER["userName"]}"'}
    ).json()
    assert found["Resources"][0]["active"] is False  # disabled users stay findable with `active`
    enabled = patch(client, path, [{"op": "Replace", "path": "active", "value": True}])
    assert enabled["active"] is True


def test_entra_pathless_dotted_and_urn_keys(client: ScimClient) -> None:
    user = client.post("/Users", CREATE_USER).json()
    updated = patch(
        client,
        f"/Users/{user['id']}",
        [
            {
                "op": "Add",
                "value": {
                    "name.givenName": "John",
                    "displayName": "John Doe",
                    f"{ENT}:employeeNumber": "701984",
                    f"{ENT}:manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"},
                },
            }
        ],
    )
    assert updated["name"]["givenName"] == "John" and updated["displayName"] == "John Doe"
    assert updated[ENT] == {
        "employeeNumber": "701984",
        "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"},
    }
    assert updated["schemas"] == CREATE_USER["schemas"]


def test_entra_adds_a_work_email_that_does_not_exist_yet(client: ScimClient) -> None:
    user = client.create_user("nomail@testuser.com")
    updated = patch(
        client,
        f"/Users/{user['id']}",
        [{"op": "Add", "path": 'emails[type eq "work"].value', "value": "work@testuser.com"}],
    )
    assert updated["emails"] == [{"type": "work", "value": "work@testuser.com"}]


def test_entra_group_lifecycle(client: ScimClient) -> None:
    users = [client.create_user(f"u{i}@testuser.com")["id"] for i in range(3)]
    lookup = client.get(
        "/Groups",
        params={"excludedAttributes": "members", "filter": 'displayName eq "displayName"'},
    )
    assert lookup.json()["totalResults"] == 0
    group = client.post(
        "/Groups",
        {
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName",
            "meta": {"resourceType": "Group"},
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        },
    )
    assert group.status_code == 201, group.text
    path = f"/Groups/{group.json()['id']}"
    patch(
        client,
        path,
        [
            {
                "op": "Add",
                "path": "members",
                "value": [{"$ref": None, "value": users[0]}, {"$ref": None, "value": users[1]}],
            }
        ],
    )
    # Entra checks membership with a filter before changing it.
    check = f'id eq "{group.json()["id"]}" and members[value eq "{users[0]}"]'
    assert (
        client.get("/Groups", params={"filter": check, "excludedAttributes": "members"}).json()[
            "totalResults"
        ]
        == 1
    )
    removed = patch(
        client,
        path,
        [{"op": "Remove", "path": "members", "value": [{"$ref": None, "value": users[0]}]}],
    )
    assert [m["value"] for m in removed["members"]] == [users[1]]
    replaced = patch(
        client, path, [{"op": "Replace", "path": "members", "value": [{"value": users[2]}]}]
    )
    assert [m["value"] for m in replaced["members"]] == [users[2]]
    renamed = patch(
        client,
        path,
        [
            {
                "op": "Replace",
                "path": "displayName",
                "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName",
            }
        ],
    )
    assert renamed["displayName"].endswith("updatedDisplayName")


def test_entra_replaces_members_of_a_large_group(client: ScimClient) -> None:
    users = seed_users({"userName": f"big{i}"} for i in range(1200))
    group = client.create_group("Large", users[:1000])
    response = client.request(
        "PATCH",
        f"/Groups/{group['id']}",
        {
            "schemas": [PATCH_SCHEMA],
            "Operations": [
                {"op": "Replace", "path": "members", "value": [{"value": u} for u in users[100:]]}
            ],
        },
    )
    assert response.status_code == 204  # over 1,000 members: not serialised back
    members = client.get(f"/Groups/{group['id']}").json()["members"]
    assert [m["value"] for m in members] == users[100:]


ACME = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
# Microsoft's example name for a custom extension (customize-application-attributes): Entra
# sends its object without listing the URN in `schemas`.
CUSTOM = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"


def test_entra_custom_attributes_by_urn_paths(declared: ScimClient) -> None:
    """Entra names a custom attribute `<urn>:<attr>`: as a PATCH path, and as a key of a
    path-less value (aadOptscim062020), never complex or multi-valued (issue #10)."""
    created = declared.post(
        "/Users",
        {**CREATE_USER, ACME: {"costCenter": "CC-1"}, CUSTOM: {"CustomAttribute": "701984"}},
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user[CUSTOM] == {"CustomAttribute": "701984"} and CUSTOM in user["schemas"]
    path = f"/Users/{user['id']}"
    updated = patch(
        declared,
        path,
        [
            {"op": "Replace", "path": f"{ACME}:costCenter", "value": "CC-2"},
            {"op": "Add", "path": f"{ACME}:remote", "value": "True"},
            {"op": "Add", "path": f"{ACME}:clearanceLevel", "value": 4},
            {"op": "Replace", "path": f"{CUSTOM}:CustomAttribute", "value": "701985"},
        ],
    )
    assert updated[ACME] == {"costCenter": "CC-2", "remote": True, "clearanceLevel": 4}
    assert updated[CUSTOM] == {"CustomAttribute": "701985"}
    pathless = patch(
        declared,
        path,
        [
            {
                "op": "replace",
                "value": {
                    "name.givenName": "Given",
                    f"{ACME}:costCenter": "CC-3",
                    f"{ACME}:region": "apac",
                    f"{ENT}:department": "Sales",
                    f"{CUSTOM}:Other": "x",
                },
            }
        ],
    )
    assert pathless["name"]["givenName"] == "Given"
    assert pathless[ACME] == {
        "costCenter": "CC-3",
        "remote": True,
        "clearanceLevel": 4,
        "region": "APAC",
    }
    assert pathless[ENT] == {"department": "Sales"}
    assert pathless[CUSTOM] == {"CustomAttribute": "701985", "Other": "x"}
    cleared = patch(declared, path, [{"op": "Replace", "path": f"{ACME}:costCenter", "value": ""}])
    assert "costCenter" not in cleared[ACME]
    found = declared.get("/Users", params={"filter": f'{ACME}:region eq "APAC"'}).json()
    assert found["totalResults"] == 1
    wrong = declared.patch(
        path, [{"op": "Replace", "path": f"{ACME}:clearanceLevel", "value": "four"}]
    )
    assert wrong.status_code == 400 and wrong.json()["scimType"] == "invalidValue"
