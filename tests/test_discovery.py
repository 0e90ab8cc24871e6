"""Discovery (RFC 7644 §4, RFC 7643 §5-7), checked as Okta's 2016 SPEC test did."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import BASE, ScimClient


def test_service_provider_config_is_public_and_complete(client: ScimClient) -> None:
    config = client.http.get(BASE + "/ServiceProviderConfig").json()
    assert config["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    for feature in ("patch", "bulk", "filter", "changePassword", "sort", "etag"):
        assert isinstance(config[feature]["supported"], bool)
    assert (
        config["patch"]["supported"]
        and config["filter"]["supported"]
        and config["sort"]["supported"]
    )
    assert config["filter"]["maxResults"] > 0
    # /Bulk (RFC 7644 §3.7) with its default limits: 1,000 operations, the body limit.
    assert config["bulk"] == {"supported": True, "maxOperations": 1000, "maxPayloadSize": 8388608}
    scheme = config["authenticationSchemes"][0]
    assert scheme["type"] == "oauthbearertoken" and scheme["description"]


def test_resource_types(client: ScimClient) -> None:
    listed = client.http.get(BASE + "/ResourceTypes").json()
    assert listed["totalResults"] == 2 and listed["schemas"] == [
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    ]
    by_name = {r["name"]: r for r in listed["Resources"]}
    assert by_name["User"]["endpoint"] == "/Users"
    assert by_name["User"]["schemaExtensions"] == [
        {"schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "required": False}
    ]
    assert by_name["Group"]["schema"] == "urn:ietf:params:scim:schemas:core:2.0:Group"
    one = client.http.get(BASE + "/ResourceTypes/Group").json()
    assert one == by_name["Group"]


@pytest.mark.parametrize(
    "urn",
    [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:Group",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ],
)
def test_schemas(client: ScimClient, urn: str) -> None:
    listed = client.http.get(BASE + "/Schemas").json()
    by_id = {s["id"]: s for s in listed["Resources"]}
    one = client.http.get(f"{BASE}/Schemas/{urn}").json()
    assert one == by_id[urn]
    assert one["attributes"] and one["meta"]["location"].endswith(f"/Schemas/{urn}")


def test_user_schema_characteristics(client: ScimClient) -> None:
    schema = client.http.get(BASE + "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").json()
    attributes = {a["name"]: a for a in schema["attributes"]}
    assert attributes["userName"]["uniqueness"] == "server" and attributes["userName"]["required"]
    assert attributes["userName"]["caseExact"] is False
    assert (
        attributes["password"]["returned"] == "never"
        and attributes["password"]["mutability"] == "writeOnly"
    )
    assert attributes["groups"]["mutability"] == "readOnly"
    assert attributes["emails"]["multiValued"] is True


ACME = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"


def test_declared_extensions_are_discoverable(declared: ScimClient) -> None:
    """What Okta's Import User Schema reads (issue #10): the User resource type lists every
    extension URN, and each resolves in /Schemas with its characteristics."""
    listed = declared.http.get(BASE + "/ResourceTypes").json()
    by_name = {r["name"]: r for r in listed["Resources"]}
    assert listed["totalResults"] == 5 and list(by_name) == [
        "User",
        "Group",
        "Entitlement",
        "License",
        "Role",
    ]
    assert by_name["User"]["schemaExtensions"] == [
        {"schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "required": False},
        {"schema": ACME, "required": False},
    ]
    assert by_name["Entitlement"]["endpoint"] == "/Entitlements"
    assert by_name["License"]["schema"] == "urn:okta:scim:schemas:core:1.0:Entitlement"
    schemas = {s["id"]: s for s in declared.http.get(BASE + "/Schemas").json()["Resources"]}
    for extension in by_name["User"]["schemaExtensions"]:
        assert extension["schema"] in schemas
    acme = declared.http.get(f"{BASE}/Schemas/{ACME}").json()
    assert acme == schemas[ACME] and acme["meta"]["location"].endswith(f"/Schemas/{ACME}")
    attributes = {a["name"]: a for a in acme["attributes"]}
    assert attributes["employeeId"]["uniqueness"] == "server"
    assert attributes["doorPin"]["returned"] == "never"
    assert attributes["projects"]["subAttributes"][0]["required"] is True
    assert not any("indexed" in a for a in acme["attributes"])  # the server's own key
    one = declared.http.get(BASE + "/ResourceTypes/Role").json()
    assert one == by_name["Role"]


def test_a_required_extension_is_listed_as_required(make_client: Any, tmp_path: Any) -> None:
    from tests.conftest import app_for
    from tests.test_extensions import SCHEMA, USER_TYPE, write

    user_type = {**USER_TYPE, "schemaExtensions": [{"schema": ACME, "required": True}]}
    folder = write(tmp_path, {"acme.json": SCHEMA, "user.json": user_type})
    client = make_client(served=app_for(folder), schemas_dir=folder)
    found = client.http.get(BASE + "/ResourceTypes/User").json()["schemaExtensions"]
    assert {"schema": ACME, "required": True} in found
