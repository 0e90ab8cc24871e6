"""The published spec (app/published.py): openapi/scim.yaml with the declared extensions merged
in, given to Connexion, served at /scim/v2/openapi.json and written by `make spec`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from app import config, published, spec
from app.extensions import load
from tests.conftest import BASE, EXAMPLES, ScimClient, app_for, assert_scim_error

ACME = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
ACME_GROUP = "urn:ietf:params:scim:schemas:extension:acme:2.0:Group"
ROOT = Path(__file__).resolve().parent.parent


def merged() -> dict[str, Any]:
    return published.merged(spec.document(), load(EXAMPLES))


def test_without_declarations_the_spec_is_the_file() -> None:
    assert published.merged(spec.document(), load(None)) is spec.document()


def test_the_merged_spec_is_valid_openapi() -> None:
    validate(merged())


def test_declared_extensions_are_in_the_user_and_group_schemas() -> None:
    schemas = merged()["components"]["schemas"]
    user_in = schemas["UserIn"]["allOf"][-1]["properties"][ACME]
    assert user_in == {"$ref": "#/components/schemas/AcmeUser"}
    assert schemas["User"]["allOf"][-1]["properties"][ACME] == {
        "$ref": "#/components/schemas/AcmeUserOut"
    }
    assert schemas["GroupIn"]["properties"][ACME_GROUP] == {
        "$ref": "#/components/schemas/AcmeGroup"
    }
    acme = schemas["AcmeUser"]["properties"]
    assert acme["clearanceLevel"] == {"type": "integer", "nullable": True}
    assert acme["doorPin"]["writeOnly"] is True and acme["lastAudit"]["readOnly"] is True
    assert schemas["AcmeUserOut"]["properties"]["doorPin"] == {"not": {}}
    assert acme["projects"]["items"]["required"] == ["value"]
    assert acme["region"]["pattern"].startswith("^([eE][mM][eE][aA]|")
    assert schemas["AcmeGroup"]["properties"]["groupCode"] == {"type": "string", "nullable": True}


def test_read_only_types_get_two_get_paths() -> None:
    paths = merged()["paths"]
    assert set(paths["/Entitlements"]) == {"get"} and set(paths["/Roles/{record_id}"]) == {"get"}
    assert paths["/Licenses"]["get"]["operationId"] == "app.entitlements.search_License"


def test_a_schema_named_like_a_base_component_gets_another_name(tmp_path: Path) -> None:
    from tests.test_extensions import SCHEMA, USER_TYPE, write

    folder = write(tmp_path, {"acme.json": {**SCHEMA, "name": "User"}, "user.json": USER_TYPE})
    schemas = published.merged(spec.document(), load(folder))["components"]["schemas"]
    assert schemas["UserIn"]["allOf"][-1]["properties"][ACME] == {
        "$ref": "#/components/schemas/User2"
    }


def test_the_server_serves_and_validates_with_the_merged_spec(declared: ScimClient) -> None:
    served = declared.http.get(BASE + "/openapi.json").json()
    assert "AcmeUser" in served["components"]["schemas"] and "/Entitlements" in served["paths"]
    # Connexion refuses what the declaration does not allow, before the handler runs.
    refused = declared.post("/Users", {"userName": "a", ACME: {"clearanceLevel": "high"}})
    assert "clearanceLevel" in assert_scim_error(refused, 400, "invalidValue")["detail"]


def test_the_shared_app_without_declarations_serves_the_file(client: ScimClient) -> None:
    served = client.http.get(BASE + "/openapi.json").json()
    assert "AcmeUser" not in served["components"]["schemas"]


def test_make_spec_writes_the_merged_spec() -> None:
    loaded = importlib.util.spec_from_file_location(
        "build_spec", ROOT / "scripts" / "build_spec.py"
    )
    assert loaded is not None and loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    saved = config.get()
    try:
        document = module.build(EXAMPLES)
    finally:
        config.use(saved)
    assert document == merged()


def test_one_app_per_directory_is_cached() -> None:
    assert app_for(EXAMPLES) is app_for(EXAMPLES)


@pytest.mark.parametrize(
    ("path", "status", "media_type"),
    [
        ("/openapi.json", 200, "application/json"),
        ("/openapi.yaml", 200, "text/yaml"),
        ("/ui/", 200, "text/html"),
        ("/ui", 307, None),  # to /ui/
        ("/uix", 404, "application/scim+json"),  # beside the spec's pages: SCIM's own 404
        ("/openapi.txt", 404, "application/scim+json"),
    ],
)
def test_the_spec_pages_and_their_neighbours(
    client: ScimClient, path: str, status: int, media_type: str | None
) -> None:
    """Connexion's Swagger UI middleware sees only these paths (app/framework.py
    SpecPagesOnly); every other request goes past it."""
    response = client.http.get(BASE + path, follow_redirects=False)
    assert response.status_code == status
    if media_type is not None:
        assert response.headers["content-type"].startswith(media_type)
