"""Declared documents (app/extensions.py): what loads, and every way a directory can be broken.

A broken document stops the server at start with a message naming the file and the problem;
each row below is one such problem, beside the valid directory it breaks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import config, extensions
from app.definitions import SchemaError
from app.main import create_app
from tests.conftest import EXAMPLES

ACME = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SCHEMA = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
    "id": ACME,
    "name": "AcmeUser",
    "attributes": [{"name": "costCenter", "type": "string"}],
}
USER_TYPE = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
    "id": "User",
    "name": "User",
    "endpoint": "/Users",
    "schema": "urn:ietf:params:scim:schemas:core:2.0:User",
    "schemaExtensions": [{"schema": ACME, "required": False}],
}
ROLE_SCHEMA = {
    "id": "urn:okta:scim:schemas:core:1.0:Role",
    "name": "Role",
    "attributes": [{"name": "displayName", "type": "string", "required": True}],
}
ROLE_TYPE = {
    "name": "Role",
    "endpoint": "/Roles",
    "schema": "urn:okta:scim:schemas:core:1.0:Role",
}


@pytest.fixture(autouse=True)
def settings_restored() -> Iterator[None]:
    """create_app installs its settings; the next tests get the session's back."""
    saved = config.get()
    yield
    config.use(saved)


def write(folder: Path, files: dict[str, Any]) -> str:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(folder)


def with_attribute(**characteristics: Any) -> dict[str, Any]:
    return {**SCHEMA, "attributes": [{"name": "x", "type": "string", **characteristics}]}


def test_the_example_directory_loads() -> None:
    loaded = extensions.load(EXAMPLES)
    assert list(loaded.types) == ["User", "Group", "Entitlement", "License", "Role"]
    assert loaded.extensions["User"] == (ENTERPRISE, ACME)
    assert ACME in loaded.declared and ENTERPRISE not in loaded.declared
    served = loaded.documents[ACME]["attributes"][0]
    # Every characteristic spelled out, as the built-in documents have them; no `indexed`.
    assert served == {
        "name": "costCenter",
        "type": "string",
        "multiValued": False,
        "description": served["description"],
        "required": False,
        "caseExact": False,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    }
    assert loaded.attributes[ACME]["costcenter"].indexed


def test_no_directory_is_the_builtin_schemas() -> None:
    loaded = extensions.load(None)
    assert loaded.extensions == {"User": (ENTERPRISE,), "Group": ()}
    assert not loaded.declared and not loaded.catalogs


def test_a_required_extension_and_a_schema_shared_by_read_only_types(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "acme.json": SCHEMA,
            "user.json": {**USER_TYPE, "schemaExtensions": [{"schema": ACME, "required": True}]},
            "role.json": ROLE_SCHEMA,
            "roles.json": ROLE_TYPE,
            "admin_roles.json": {**ROLE_TYPE, "name": "AdminRole", "endpoint": "/AdminRoles"},
        },
    )
    loaded = extensions.load(folder)
    assert ("User", ACME) in loaded.required
    assert [t.endpoint for t in loaded.catalogs.values()] == ["/AdminRoles", "/Roles"]


GOOD = {"acme.json": SCHEMA, "user.json": USER_TYPE}
# (files replacing or joining GOOD, the file named in the message, words in it)
# fmt: off
BROKEN: list[tuple[str, dict[str, Any], str, str]] = [
    ("not JSON", {"acme.json": "{"}, "acme.json", "not a readable JSON document"),
    ("not an object", {"acme.json": "[]"}, "acme.json", "must be a JSON object"),
    ("wrong schemas member", {"acme.json": {**SCHEMA, "schemas": ["urn:x:y"]}}, "acme.json", "schemas must be"),
    ("unknown document member", {"acme.json": {**SCHEMA, "attribute": []}}, "acme.json", "unknown member 'attribute'"),
    ("id not a URN", {"acme.json": {**SCHEMA, "id": "acme"}}, "acme.json", "must be a URN"),
    ("id with a quote", {"acme.json": {**SCHEMA, "id": "urn:acme:x'y"}}, "acme.json", "must be a URN"),
    ("a built-in id", {"acme.json": {**SCHEMA, "id": ENTERPRISE}}, "acme.json", "already defined"),
    ("no attributes", {"acme.json": {**SCHEMA, "attributes": []}}, "acme.json", "non-empty list"),
    ("misspelt characteristic", {"acme.json": with_attribute(multivalued=True)}, "acme.json", "unknown member 'multivalued'"),
    ("unknown type", {"acme.json": with_attribute(type="strng")}, "acme.json", "type 'strng' must be string, boolean"),
    ("wrong JSON type", {"acme.json": with_attribute(required="yes")}, "acme.json", "required 'yes' must be a bool"),
    ("unknown mutability", {"acme.json": with_attribute(mutability="sometimes")}, "acme.json", "mutability 'sometimes'"),
    ("bad name", {"acme.json": with_attribute(name="cost center")}, "acme.json", "RFC 7643 §2.1"),
    ("a common attribute", {"acme.json": with_attribute(name="externalId")}, "acme.json", "common attribute"),
    ("names twice", {"acme.json": {**SCHEMA, "attributes": [{"name": "a", "type": "string"}, {"name": "A", "type": "integer"}]}}, "acme.json", "names 'a' twice"),
    ("complex without sub-attributes", {"acme.json": with_attribute(type="complex")}, "acme.json", "subAttributes go with type complex"),
    ("sub-attributes on a string", {"acme.json": with_attribute(subAttributes=[{"name": "a", "type": "string"}])}, "acme.json", "subAttributes go with type complex"),
    ("complex in complex", {"acme.json": with_attribute(type="complex", subAttributes=[{"name": "a", "type": "complex", "subAttributes": [{"name": "b", "type": "string"}]}])}, "acme.json", "cannot be a sub-attribute"),
    ("canonicalValues on a boolean", {"acme.json": with_attribute(type="boolean", canonicalValues=[True])}, "acme.json", "do not apply to type boolean"),
    ("canonicalValues of another type", {"acme.json": with_attribute(canonicalValues=[1, 2])}, "acme.json", "list of string values"),
    ("referenceTypes on a string", {"acme.json": with_attribute(referenceTypes=["external"])}, "acme.json", "go with type reference"),
    ("writeOnly returned", {"acme.json": with_attribute(mutability="writeOnly", returned="always")}, "acme.json", "returned never"),
    ("required and readOnly", {"acme.json": with_attribute(required=True, mutability="readOnly")}, "acme.json", "cannot be required"),
    ("unique and multi-valued", {"acme.json": with_attribute(multiValued=True, uniqueness="server")}, "acme.json", "uniqueness is enforced on singular"),
    ("indexed and complex", {"acme.json": with_attribute(type="complex", indexed=True, subAttributes=[{"name": "a", "type": "string"}])}, "acme.json", "indexed applies to singular"),
    ("returned request on a sub-attribute", {"acme.json": with_attribute(type="complex", subAttributes=[{"name": "a", "type": "string", "returned": "request"}])}, "acme.json", "not on sub-attributes"),
    ("a schema nothing uses", {"user.json": {**USER_TYPE, "schemaExtensions": []}}, "acme.json", "used by no resource type"),
    ("an unknown extension", {"user.json": {**USER_TYPE, "schemaExtensions": [{"schema": "urn:acme:nope", "required": False}]}}, "user.json", "no Schema document"),
    ("a core schema as an extension", {"user.json": {**USER_TYPE, "schemaExtensions": [{"schema": "urn:ietf:params:scim:schemas:core:2.0:Group", "required": False}]}}, "user.json", "not an extension of User"),
    ("the enterprise extension on Group", {"group.json": {**USER_TYPE, "name": "Group", "id": "Group", "endpoint": "/Groups", "schema": "urn:ietf:params:scim:schemas:core:2.0:Group", "schemaExtensions": [{"schema": ENTERPRISE, "required": False}]}}, "group.json", "not an extension of Group"),
    ("extension without required", {"user.json": {**USER_TYPE, "schemaExtensions": [{"schema": ACME}]}}, "user.json", "'required' (a boolean)"),
    ("User elsewhere", {"user.json": {**USER_TYPE, "endpoint": "/People"}}, "user.json", "the User resource type is /Users"),
    ("id is not the name", {"user.json": {**USER_TYPE, "id": "Person"}}, "user.json", "must be the name"),
    ("no endpoint", {"role.json": ROLE_SCHEMA, "roles.json": {"name": "Role", "schema": ROLE_SCHEMA["id"]}}, "roles.json", "needs 'endpoint'"),
    ("endpoint taken", {"role.json": ROLE_SCHEMA, "roles.json": {**ROLE_TYPE, "endpoint": "/Schemas"}}, "roles.json", "endpoint /Schemas is already taken"),
    ("endpoint not a path", {"role.json": ROLE_SCHEMA, "roles.json": {**ROLE_TYPE, "endpoint": "/Roles/x"}}, "roles.json", "must look like /Name"),
    ("read-only type with extensions", {"role.json": ROLE_SCHEMA, "roles.json": {**ROLE_TYPE, "schemaExtensions": [{"schema": ACME, "required": False}]}}, "roles.json", "User and Group only"),
    ("an extension as a type's schema", {"roles.json": {**ROLE_TYPE, "schema": ACME}}, "user.json", "is already the schema of Role"),
    ("declared twice", {"role.json": ROLE_SCHEMA, "roles.json": ROLE_TYPE, "roles2.json": ROLE_TYPE}, "roles2.json", "declared twice"),
]
# fmt: on


@pytest.mark.parametrize(
    ("files", "named", "words"), [row[1:] for row in BROKEN], ids=[row[0] for row in BROKEN]
)
def test_a_broken_directory_names_the_file_and_the_problem(
    tmp_path: Path, files: dict[str, Any], named: str, words: str
) -> None:
    folder = write(tmp_path, {**GOOD, **files})
    with pytest.raises(SchemaError) as raised:
        extensions.load(folder)
    message = str(raised.value)
    assert named in message and words in message, message


def test_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="is not a directory"):
        extensions.load(str(tmp_path / "nowhere"))


@pytest.mark.parametrize(
    ("records", "words"),
    [
        ("[", "not a readable JSON document"),
        ('{"id": "r1"}', "a JSON array of records"),
        ('[{"displayName": "x"}]', "needs an id"),
        ('[{"id": "r1"}]', "displayName is required"),
        ('[{"id": "r1", "displayName": 5}]', "displayName must be a string"),
        ('[{"id": "r1", "displayName": "x", "colour": "red"}]', "has no attribute 'colour'"),
        ('[{"id": "r1", "displayName": "x"}, {"id": "r1", "displayName": "y"}]', "used twice"),
    ],
)
def test_broken_records_stop_the_start(tmp_path: Path, records: str, words: str) -> None:
    folder = write(
        tmp_path, {"role.json": ROLE_SCHEMA, "roles.json": ROLE_TYPE, "records/Role.json": records}
    )
    with pytest.raises(SchemaError) as raised:
        create_app(db_path=str(tmp_path / "scim.db"), tokens=("t",), schemas_dir=folder)
    assert "Role.json" in str(raised.value) and words in str(raised.value), raised.value


def test_a_broken_document_stops_create_app(tmp_path: Path) -> None:
    folder = write(tmp_path, {**GOOD, "acme.json": with_attribute(type="strng")})
    with pytest.raises(SchemaError, match=r"acme\.json"):
        create_app(db_path=str(tmp_path / "scim.db"), tokens=("t",), schemas_dir=folder)
