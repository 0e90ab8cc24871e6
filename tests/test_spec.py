"""The spec and the handlers agree: every operationId resolves, no handler is orphaned."""

from __future__ import annotations

import importlib
import inspect
import tomllib
from pathlib import Path
from typing import Any

import pytest
from connexion.json_schema import resolve_refs
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from app import published, spec
from app.extensions import load
from tests.conftest import EXAMPLES

HANDLER_MODULES = (
    "app.users",
    "app.groups",
    "app.discovery",
    "app.root",
    "app.bulk",
    "app.entitlements",
)
# The spec as published with examples/schemas declared: the extensions and read-only types.
EXAMPLE_REGISTRY = load(EXAMPLES)
MERGED = published.merged(spec.document(), EXAMPLE_REGISTRY)


def operation_ids(document: dict[str, Any] | None = None) -> list[str]:
    return [
        operation["operationId"]
        for item in (document or spec.document())["paths"].values()
        for method, operation in item.items()
        if method in spec.METHODS
    ]


def test_spec_is_valid_openapi() -> None:
    document, _ = read_from_filename(str(spec.SPEC_PATH))
    validate(document)


def test_every_operation_id_is_a_documented_async_handler() -> None:
    for operation_id in operation_ids(MERGED):
        module_name, _, name = operation_id.rpartition(".")
        handler = getattr(importlib.import_module(module_name), name)
        assert inspect.iscoroutinefunction(handler), operation_id
        assert inspect.getdoc(handler), f"{operation_id} has no docstring"


def test_no_orphaned_handlers() -> None:
    # A read-only type's operationIds are `search_<name>`, `get_<name>` (app/entitlements.py).
    used = {i.split("_", 1)[0] if ".entitlements." in i else i for i in operation_ids(MERGED)}
    for module_name in HANDLER_MODULES:
        module = importlib.import_module(module_name)
        for name, function in inspect.getmembers(module, inspect.iscoroutinefunction):
            if function.__module__ == module_name and not name.startswith("_"):
                assert f"{module_name}.{name}" in used, f"{module_name}.{name} is not in the spec"


def test_info_version_is_the_package_version() -> None:
    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert spec.document()["info"]["version"] == pyproject["project"]["version"]


def test_operation_ids_are_unique() -> None:
    ids = operation_ids(MERGED)
    assert len(ids) == len(set(ids))


# JSON Schema type of each SCIM attribute type (RFC 7643 §2.3).
JSON_TYPES = {
    "string": "string",
    "boolean": "boolean",
    "decimal": "number",
    "integer": "integer",
    "dateTime": "string",
    "reference": "string",
    "binary": "string",
    "complex": "object",
}


def _component(name: str) -> dict[str, Any]:
    resolved = resolve_refs(MERGED)
    return dict(resolved["components"]["schemas"][name])


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    """Properties of a schema, merging allOf parts and anyOf's object parts."""
    found = dict(schema.get("properties", {}))
    for part in [*schema.get("allOf", []), *schema.get("anyOf", [])]:
        found.update(_properties(part))
    return found


def _required(schema: dict[str, Any]) -> set[str]:
    found = set(schema.get("required", []))
    for part in schema.get("allOf", []):
        found |= _required(part)
    return found


def _assert_agree(attribute: dict[str, Any], prop: dict[str, Any], where: str) -> None:
    if attribute["multiValued"]:
        assert prop["type"] == "array", where
        prop = prop["items"]
    if "type" in prop:
        assert prop["type"] == JSON_TYPES[attribute["type"]], where
    if "anyOf" in prop:  # what a client may send besides (bare ids, booleans as strings)
        assert JSON_TYPES[attribute["type"]] in [p.get("type") for p in prop["anyOf"]], where
    assert prop.get("writeOnly", False) == (attribute["mutability"] == "writeOnly"), where
    for sub in attribute.get("subAttributes", []):
        if sub["name"] == "$ref":
            continue  # Connexion cannot load a property named "$ref"; bodies stay open to it
        assert sub["name"] in _properties(prop), f"{where}.{sub['name']} missing in the spec"
        _assert_agree(sub, _properties(prop)[sub["name"]], f"{where}.{sub['name']}")


@pytest.mark.parametrize(
    ("urn", "request_component", "response_component", "extension"),
    [
        ("urn:ietf:params:scim:schemas:core:2.0:User", "UserIn", "User", None),
        ("urn:ietf:params:scim:schemas:core:2.0:Group", "GroupIn", "Group", None),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "UserIn",
            "User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ),
        # Declared in examples/schemas: the published spec is generated from the documents.
        (
            "urn:ietf:params:scim:schemas:extension:acme:2.0:User",
            "UserIn",
            "User",
            "urn:ietf:params:scim:schemas:extension:acme:2.0:User",
        ),
        (
            "urn:ietf:params:scim:schemas:extension:acme:2.0:Group",
            "GroupIn",
            "Group",
            "urn:ietf:params:scim:schemas:extension:acme:2.0:Group",
        ),
        ("urn:okta:scim:schemas:core:1.0:Entitlement", "Entitlement", "Entitlement", None),
    ],
)
def test_schemas_endpoint_agrees_with_openapi(
    urn: str, request_component: str, response_component: str, extension: str | None
) -> None:
    """/Schemas and the OpenAPI components describe the same attributes the same way."""
    scim = EXAMPLE_REGISTRY.documents[urn]
    request, response = _component(request_component), _component(response_component)
    request_props, response_props = _properties(request), _properties(response)
    if extension:
        request_props = _properties(request_props[extension])
        response_props = _properties(response_props[extension])
    for attribute in scim["attributes"]:
        name = attribute["name"]
        assert name in request_props, f"{name} is in /Schemas but not in {request_component}"
        _assert_agree(attribute, request_props[name], f"{request_component}.{name}")
        if attribute["returned"] == "never":
            assert response_props[name] == {"not": {}}, f"{name} must never be in a response"
        if attribute["mutability"] == "readOnly":
            assert request_props[name].get("readOnly"), f"{name} is readOnly in /Schemas"
        if attribute["required"] and not extension and request_component.endswith("In"):
            assert name in _required(request), f"{name} is required in /Schemas"
