"""The rest of RFC 7644 beyond the Okta flows: root queries (§3.4.2.1), /Me (§3.11), message
schemas (§3.4.3, §3.5.2), attribute selection by extension URN (§3.4.2.5), clearing by null or
empty (§3.5.2.3), and the shapes other clients send (manager, encoded values, string booleans).

Each table row is one request and what must come back.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ScimClient, assert_scim_error

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture
def directory(client: ScimClient) -> ScimClient:
    """Two users (one with enterprise attributes) and a group."""
    ann = client.create_user("ann", title="Boss", **{ENT: {"employeeNumber": "1"}})
    client.create_user("bob")
    client.create_group("Staff", [ann["id"]])
    return client


# --- RFC 7644 §3.4.2.1: queries at the root; meta.resourceType is filterable ---------------

# (query parameters, path, the resourceTypes and names listed, totalResults)
ROOT_QUERIES: list[tuple[dict[str, Any], str, list[str], int]] = [
    ({}, "/", ["User:ann", "User:bob", "Group:Staff"], 3),
    ({"filter": 'meta.resourceType eq "Group"'}, "/", ["Group:Staff"], 1),
    ({"filter": 'meta.resourceType eq "user"'}, "/", [], 0),  # caseExact (RFC 7643 §3.1)
    ({"filter": 'meta.resourceType ne "Group"'}, "/", ["User:ann", "User:bob"], 2),
    ({"filter": 'userName sw "a"'}, "/", ["User:ann"], 1),
    ({"filter": 'displayName eq "staff"'}, "/", ["Group:Staff"], 1),
    ({"count": 1, "startIndex": 3}, "/", ["Group:Staff"], 3),
    ({"filter": 'meta.resourceType eq "User"', "count": 1}, "/", ["User:ann"], 2),
    ({"filter": 'meta.resourceType eq "Group"'}, "/Users", [], 0),
    ({"filter": 'meta.resourceType eq "User" and title pr'}, "/Users", ["User:ann"], 1),
    ({"filter": 'meta.resourceType eq "Group"'}, "/Groups", ["Group:Staff"], 1),
]


def _listed(page: dict[str, Any]) -> list[str]:
    return [
        f"{r['meta']['resourceType']}:{r.get('userName') or r.get('displayName')}"
        for r in page["Resources"]
    ]


@pytest.mark.parametrize(
    ("params", "path", "listed", "total"), ROOT_QUERIES, ids=[str(r[:2]) for r in ROOT_QUERIES]
)
def test_root_and_resource_type_queries(
    directory: ScimClient, params: dict[str, Any], path: str, listed: list[str], total: int
) -> None:
    response = directory.get(path, params=params)
    assert response.status_code == 200, response.text
    assert (_listed(response.json()), response.json()["totalResults"]) == (listed, total)


def test_root_query_errors(directory: ScimClient) -> None:
    assert_scim_error(
        directory.get("/", params={"filter": 'shoeSize eq "9"'}), 400, "invalidFilter"
    )
    assert_scim_error(directory.get("/", params={"filter": "userName eq"}), 400, "invalidFilter")
    assert_scim_error(directory.get("/", headers={"Authorization": "Bearer x"}), 401)


# --- RFC 7644 §3.11: /Me names no user here -------------------------------------------------

ME_CALLS = [
    ("GET", None),
    ("PUT", {"schemas": [USER_SCHEMA], "userName": "me"}),
    (
        "PATCH",
        {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]},
    ),
    ("DELETE", None),
    ("POST", {"schemas": [USER_SCHEMA], "userName": "me"}),
]


@pytest.mark.parametrize(("method", "body"), ME_CALLS, ids=[m for m, _ in ME_CALLS])
def test_me_is_not_implemented(client: ScimClient, method: str, body: Any) -> None:
    error = assert_scim_error(client.request(method, "/Me", body), 501)
    assert "token" in error["detail"]
    assert_scim_error(client.request(method, "/Me", body, headers={"Authorization": "x y"}), 401)


# --- RFC 7644 §3.4.3, §3.5.2: a message's `schemas` is exactly its URN ----------------------

WRONG_SCHEMAS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "PATCH",
        "/Users/{user}",
        {
            "schemas": [USER_SCHEMA],
            "Operations": [{"op": "replace", "path": "title", "value": "x"}],
        },
    ),
    (
        "PATCH",
        "/Users/{user}",
        {
            "schemas": [PATCH_OP, SEARCH],
            "Operations": [{"op": "replace", "path": "title", "value": "x"}],
        },
    ),
    (
        "PATCH",
        "/Users/{user}",
        {"schemas": [], "Operations": [{"op": "replace", "path": "title", "value": "x"}]},
    ),
    (
        "PATCH",
        "/Groups/{group}",
        {
            "schemas": ["urn:nope"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "x"}],
        },
    ),
    ("POST", "/Users/.search", {"schemas": [PATCH_OP], "filter": 'userName eq "ann"'}),
    ("POST", "/Groups/.search", {"schemas": []}),
    ("POST", "/.search", {"schemas": [SEARCH, SEARCH]}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    WRONG_SCHEMAS,
    ids=[f"{m} {p} {b['schemas']}" for m, p, b in WRONG_SCHEMAS],
)
def test_message_schemas_are_checked(
    directory: ScimClient, method: str, path: str, body: dict[str, Any]
) -> None:
    user = directory.get("/Users", params={"filter": 'userName eq "ann"'}).json()["Resources"][0]
    group = directory.get("/Groups").json()["Resources"][0]
    snapshot = [
        directory.get(f"/Users/{user['id']}").json(),
        directory.get(f"/Groups/{group['id']}").json(),
    ]
    target = path.format(user=user["id"], group=group["id"])
    error = assert_scim_error(directory.request(method, target, body), 400, "invalidSyntax")
    assert "schemas" in error["detail"]
    assert snapshot == [
        directory.get(f"/Users/{user['id']}").json(),
        directory.get(f"/Groups/{group['id']}").json(),
    ]


# --- RFC 7644 §3.4.2.5: an extension's URN selects or excludes its whole block ---------------

# (attributes, excludedAttributes, keys of ann expected, her enterprise block expected)
SELECTIONS: list[tuple[str | None, str | None, set[str], dict[str, Any] | None]] = [
    (ENT, None, {"schemas", "id", ENT}, {"employeeNumber": "1"}),
    (f"userName,{ENT}", None, {"schemas", "id", "userName", ENT}, {"employeeNumber": "1"}),
    (ENT.upper(), None, {"schemas", "id", ENT}, {"employeeNumber": "1"}),
    (None, ENT, {"schemas", "id", "userName", "title", "active", "groups", "meta"}, None),
    (None, f"{ENT},title", {"schemas", "id", "userName", "active", "groups", "meta"}, None),
    (f"{ENT}:employeeNumber", None, {"schemas", "id", ENT}, {"employeeNumber": "1"}),
]


@pytest.mark.parametrize(
    ("attributes", "excluded", "keys", "block"), SELECTIONS, ids=[str(s[:2]) for s in SELECTIONS]
)
@pytest.mark.parametrize("via", ["GET", "POST .search"])
def test_selection_by_extension_urn(
    directory: ScimClient,
    attributes: str | None,
    excluded: str | None,
    keys: set[str],
    block: dict[str, Any] | None,
    via: str,
) -> None:
    if via == "GET":
        params = {"filter": 'userName eq "ann"'}
        if attributes:
            params["attributes"] = attributes
        if excluded:
            params["excludedAttributes"] = excluded
        response = directory.get("/Users", params=params)
    else:
        body: dict[str, Any] = {"schemas": [SEARCH], "filter": 'userName eq "ann"'}
        if attributes:
            body["attributes"] = attributes.split(",")
        if excluded:
            body["excludedAttributes"] = excluded.split(",")
        response = directory.post("/Users/.search", body)
    assert response.status_code == 200, response.text
    ann = response.json()["Resources"][0]
    assert set(ann) == keys
    assert ann.get(ENT) == block


# --- manager in every shape (enterprise extension, RFC 7643 §4.3) ----------------------------
# Entra sets, changes and removes it with a bare id in a URN path, the removal as "value": "";
# Microsoft's tutorial adds it as a one-element array; RFC 7644 §3.10 lets a client leave the
# URN out of a path when the name is unique; Entra removes it by `manager[value eq "x"]`.

MANAGER = f"{ENT}:manager"

# (id, operations with {boss} and {other} standing for user ids, manager expected after)
# fmt: off
MANAGER_PATCHES: list[tuple[str, list[dict[str, Any]], dict[str, Any] | None]] = [
    ("entra-add-bare-id", [{"op": "Add", "path": MANAGER, "value": "{boss}"}], {"value": "{boss}", "$ref": "../Users/{boss}"}),
    ("entra-replace-bare-id", [{"op": "Add", "path": MANAGER, "value": "{boss}"}, {"op": "Replace", "path": MANAGER, "value": "{other}"}], {"value": "{other}", "$ref": "../Users/{other}"}),
    ("entra-replace-empty", [{"op": "Add", "path": MANAGER, "value": "{boss}"}, {"op": "Replace", "path": MANAGER, "value": ""}], None),
    ("replace-null", [{"op": "add", "path": MANAGER, "value": "{boss}"}, {"op": "replace", "path": MANAGER, "value": None}], None),
    # The $ref of one of our users is ours to write, whatever the client sent.
    ("tutorial-array", [{"op": "Add", "path": "manager", "value": [{"$ref": "https://x/Users/{boss}", "value": "{boss}"}]}], {"value": "{boss}", "$ref": "../Users/{boss}"}),
    ("object", [{"op": "replace", "path": MANAGER, "value": {"value": "{boss}"}}], {"value": "{boss}", "$ref": "../Users/{boss}"}),
    ("no-urn", [{"op": "replace", "path": "manager", "value": "{boss}"}], {"value": "{boss}", "$ref": "../Users/{boss}"}),
    ("no-urn-sub", [{"op": "replace", "path": "manager.value", "value": "{boss}"}], {"value": "{boss}", "$ref": "../Users/{boss}"}),
    ("change-sub-value", [{"op": "add", "path": MANAGER, "value": "{boss}"}, {"op": "replace", "path": "manager.value", "value": "{other}"}], {"value": "{other}", "$ref": "../Users/{other}"}),
    ("remove-by-filter", [{"op": "add", "path": MANAGER, "value": "{boss}"}, {"op": "remove", "path": 'manager[value eq "{boss}"]'}], None),
    ("remove-path", [{"op": "add", "path": MANAGER, "value": "{boss}"}, {"op": "remove", "path": MANAGER}], None),
    ("pathless-bare", [{"op": "replace", "value": {MANAGER: "{boss}"}}], {"value": "{boss}", "$ref": "../Users/{boss}"}),
    ("not-a-user", [{"op": "add", "path": MANAGER, "value": "hr-4711"}], {"value": "hr-4711"}),
    ("not-a-user-keeps-its-ref", [{"op": "add", "path": MANAGER, "value": {"value": "hr-4711", "$ref": "https://hr/4711"}}], {"value": "hr-4711", "$ref": "https://hr/4711"}),
]
# fmt: on


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {_fill(k, ids): _fill(v, ids) for k, v in value.items()}
    return value


@pytest.fixture
def people(client: ScimClient) -> dict[str, str]:
    return {name: client.create_user(name)["id"] for name in ("boss", "other", "me")}


@pytest.mark.parametrize(
    ("operations", "expected"),
    [r[1:] for r in MANAGER_PATCHES],
    ids=[r[0] for r in MANAGER_PATCHES],
)
def test_manager_patches(
    client: ScimClient, people: dict[str, str], operations: list[dict[str, Any]], expected: Any
) -> None:
    response = client.patch(f"/Users/{people['me']}", _fill(operations, people))
    assert response.status_code == 200, response.text
    got = client.get(f"/Users/{people['me']}").json()
    assert got.get(ENT, {}).get("manager") == _fill(expected, people)
    assert response.json().get(ENT, {}).get("manager") == _fill(expected, people)


def test_removing_another_manager_by_filter_is_no_target(
    client: ScimClient, people: dict[str, str]
) -> None:
    client.patch(
        f"/Users/{people['me']}", [{"op": "add", "path": MANAGER, "value": people["boss"]}]
    )
    before = client.get(f"/Users/{people['me']}").json()
    remove = [{"op": "remove", "path": f'manager[value eq "{people["other"]}"]'}]
    assert_scim_error(client.patch(f"/Users/{people['me']}", remove), 400, "noTarget")
    assert client.get(f"/Users/{people['me']}").json() == before


# (id, the enterprise block sent on POST and PUT, manager stored)
MANAGER_BODIES: list[tuple[str, Any, Any]] = [
    ("bare-id", {"manager": "{boss}"}, {"value": "{boss}", "$ref": "../Users/{boss}"}),
    ("object", {"manager": {"value": "{boss}"}}, {"value": "{boss}", "$ref": "../Users/{boss}"}),
    (
        "object-with-ref",
        {"manager": {"value": "{boss}", "$ref": "../Users/{boss}", "displayName": "B"}},
        {"value": "{boss}", "$ref": "../Users/{boss}"},
    ),
    ("empty", {"manager": ""}, None),
]


@pytest.mark.parametrize(
    ("block", "expected"), [r[1:] for r in MANAGER_BODIES], ids=[r[0] for r in MANAGER_BODIES]
)
def test_manager_in_bodies(
    client: ScimClient, people: dict[str, str], block: Any, expected: Any
) -> None:
    body = {"schemas": [USER_SCHEMA, ENT], "userName": "new", ENT: _fill(block, people)}
    created = client.post("/Users", body)
    assert created.status_code == 201, created.text
    assert created.json().get(ENT, {}).get("manager") == _fill(expected, people)
    replaced = client.put(f"/Users/{created.json()['id']}", {**body, "userName": "newer"})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json().get(ENT, {}).get("manager") == _fill(expected, people)


def test_manager_filters(client: ScimClient, people: dict[str, str]) -> None:
    client.patch(
        f"/Users/{people['me']}", [{"op": "add", "path": MANAGER, "value": people["boss"]}]
    )
    # Entra checks a manager with `id eq "…" and manager eq "…"`: manager means manager.value.
    for text in (
        f'id eq "{people["me"]}" and manager eq "{people["boss"]}"',
        f'manager.value eq "{people["boss"]}"',
        f'{MANAGER}.value eq "{people["boss"]}"',
        f'{MANAGER} eq "{people["boss"]}"',
    ):
        found = client.get("/Users", params={"filter": text}).json()
        assert [u["userName"] for u in found["Resources"]] == ["me"], text


# --- RFC 7644 §3.5.2.3: null, "" and [] clear an attribute; required ones refuse --------------

# (id, operations, the attributes gone afterwards)
CLEARING: list[tuple[str, list[dict[str, Any]], list[str]]] = [
    ("replace-null", [{"op": "replace", "path": "title", "value": None}], ["title"]),
    ("replace-empty-string", [{"op": "replace", "path": "title", "value": ""}], ["title"]),
    ("Replace-empty-list", [{"op": "Replace", "path": "emails", "value": []}], ["emails"]),
    (
        "pathless-null-and-empty",
        [{"op": "replace", "value": {"title": None, "nickName": ""}}],
        ["title", "nickName"],
    ),
    ("pathless-empty-list", [{"op": "replace", "value": {"emails": []}}], ["emails"]),
    ("sub-attribute-empty", [{"op": "replace", "path": "name.givenName", "value": ""}], ["name"]),
    (
        "extension-attribute-empty",
        [{"op": "replace", "path": f"{ENT}:employeeNumber", "value": ""}],
        [ENT],
    ),
]


@pytest.mark.parametrize(
    ("operations", "gone"), [r[1:] for r in CLEARING], ids=[r[0] for r in CLEARING]
)
def test_clearing_by_null_or_empty(
    client: ScimClient, operations: list[dict[str, Any]], gone: list[str]
) -> None:
    user = client.create_user(
        "u",
        title="T",
        nickName="N",
        name={"givenName": "G"},
        emails=[{"value": "u@x.org"}],
        **{ENT: {"employeeNumber": "7"}},
    )
    response = client.patch(f"/Users/{user['id']}", operations)
    assert response.status_code == 200, response.text
    for name in gone:
        assert name not in response.json(), name
        assert name not in client.get(f"/Users/{user['id']}").json(), name


@pytest.mark.parametrize("value", [None, "", []], ids=["null", "empty-string", "empty-list"])
@pytest.mark.parametrize(("kind", "attribute"), [("Users", "userName"), ("Groups", "displayName")])
def test_clearing_a_required_attribute_is_refused(
    client: ScimClient, value: Any, kind: str, attribute: str
) -> None:
    created = client.create_user("u") if kind == "Users" else client.create_group("g")
    path = f"/{kind}/{created['id']}"
    for operations in (
        [{"op": "replace", "path": attribute, "value": value}],
        [{"op": "replace", "value": {attribute: value}}],
    ):
        error = assert_scim_error(client.patch(path, operations), 400, "invalidValue")
        assert attribute in error["detail"]
    assert client.get(path).json() == created


# --- what client libraries and Entra send -----------------------------------------------------

# (id, operations, attributes expected in the result)
SHAPES: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = [
    # Libraries that serialise extension models put `schemas` in the extension's object.
    (
        "extension-object-with-schemas",
        [{"op": "add", "path": ENT, "value": {"schemas": [ENT], "department": "R&D"}}],
        {ENT: {"department": "R&D"}},
    ),
    (
        "extension-replace-with-schemas",
        [{"op": "replace", "path": ENT, "value": {"schemas": [ENT], "costCenter": "4"}}],
        {ENT: {"costCenter": "4"}},
    ),
    (
        "pathless-extension-with-schemas",
        [{"op": "replace", "value": {ENT: {"schemas": [ENT], "division": "D"}}}],
        {ENT: {"division": "D"}},
    ),
    # Entra sends roles as a JSON-encoded string.
    (
        "encoded-roles",
        [{"op": "Add", "path": "roles", "value": '[{"primary":true,"value":"Admin"}]'}],
        {"roles": [{"primary": True, "value": "Admin"}]},
    ),
    (
        "encoded-complex",
        [{"op": "replace", "path": "name", "value": '{"givenName":"Ann"}'}],
        {"name": {"givenName": "Ann"}},
    ),
    (
        "encoded-one-value",
        [{"op": "add", "path": "roles", "value": '{"value":"Reader"}'}],
        {"roles": [{"value": "Reader"}]},
    ),
]


@pytest.mark.parametrize(
    ("operations", "expected"), [r[1:] for r in SHAPES], ids=[r[0] for r in SHAPES]
)
def test_shapes_clients_send(
    client: ScimClient, operations: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    user = client.create_user("u")
    response = client.patch(f"/Users/{user['id']}", operations)
    assert response.status_code == 200, response.text
    for name, value in expected.items():
        assert response.json()[name] == value


@pytest.mark.parametrize(
    "value",
    ['[{"primary":true', '"Admin"', "[1, 2]", '{"value": 3}'],
    ids=["truncated", "a-string", "not-objects", "wrong-type"],
)
def test_undecodable_encoded_values_are_refused(client: ScimClient, value: str) -> None:
    user = client.create_user("u")
    operations = [{"op": "add", "path": "roles", "value": value}]
    assert_scim_error(client.patch(f"/Users/{user['id']}", operations), 400, "invalidValue")
    assert client.get(f"/Users/{user['id']}").json() == user


@pytest.mark.parametrize(
    ("sent", "stored"), [("True", True), ("False", False), ("true", True), ("false", False)]
)
def test_string_booleans_in_post_and_put(client: ScimClient, sent: str, stored: bool) -> None:
    # Microsoft's test collection posts "active": "True".
    created = client.post("/Users", {"schemas": [USER_SCHEMA], "userName": "u", "active": sent})
    assert created.status_code == 201, created.text
    assert created.json()["active"] is stored
    replaced = client.put(f"/Users/{created.json()['id']}", {"userName": "u", "active": sent})
    assert replaced.status_code == 200 and replaced.json()["active"] is stored


def test_string_booleans_other_than_true_false_are_refused(client: ScimClient) -> None:
    refused = client.post("/Users", {"schemas": [USER_SCHEMA], "userName": "u", "active": "yes"})
    assert_scim_error(refused, 400, "invalidValue")


def test_entra_matches_users_by_work_email(client: ScimClient) -> None:
    # Entra's matching filter when email is the matching attribute (not in the RFC grammar).
    client.create_user("a", emails=[{"value": "A@x.org", "type": "work"}])
    client.create_user("b", emails=[{"value": "a@x.org", "type": "home"}])
    for text in (
        'emails[type eq "work"].value eq "a@X.org"',
        'emails[type eq "work" and value eq "a@x.org"]',
    ):
        found = client.get("/Users", params={"filter": text}).json()
        assert [u["userName"] for u in found["Resources"]] == ["a"], text
    none = client.get(
        "/Users", params={"filter": 'emails[type eq "home"].value eq "A@x.org"'}
    ).json()
    assert [u["userName"] for u in none["Resources"]] == ["b"]
