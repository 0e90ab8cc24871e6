"""Read-only resource types (app/entitlements.py, app/records.py): served from a file the vendor's
app writes, read again when it changes. Okta's call sequence is tests/exchanges/okta/entitlements.json."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ScimClient, app_for, assert_scim_error
from tests.test_extensions import ROLE_SCHEMA, ROLE_TYPE, write

SCHEMA = {
    **ROLE_SCHEMA,
    "attributes": [
        {"name": "displayName", "type": "string", "required": True},
        {"name": "description", "type": "string"},
    ],
}
ROLES = [
    {"id": "r1", "displayName": "Viewer"},
    {"id": "r2", "displayName": "Editor", "description": "Edits"},
]


@pytest.fixture
def roles(make_client: Any, tmp_path: Path) -> tuple[ScimClient, Path]:
    """A client of a server declaring /Roles, and the records file it reads."""
    folder = write(
        tmp_path / "schemas",
        {"role.json": SCHEMA, "roles.json": ROLE_TYPE, "records/Role.json": ROLES},
    )
    client = make_client(served=app_for(folder), schemas_dir=folder)
    return client, Path(folder) / "records" / "Role.json"


def rewrite(path: Path, content: Any) -> None:
    """Write the file anew, as the vendor's app would (a new file renamed into place)."""
    fresh = path.with_suffix(".tmp")
    fresh.write_text(content if isinstance(content, str) else json.dumps(content))
    os.replace(fresh, path)
    stamp = path.stat().st_mtime_ns + 1_000_000_000  # a different stamp, however fast the test
    os.utime(path, ns=(stamp, stamp))


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["Resources"]]


def test_list_get_filter_and_select(roles: tuple[ScimClient, Path]) -> None:
    client, _ = roles
    assert ids(client.get("/Roles")) == ["r1", "r2"]
    assert ids(client.get("/Roles", params={"filter": 'displayName sw "ed"'})) == ["r2"]
    assert ids(client.get("/Roles", params={"filter": "description pr"})) == ["r2"]
    page = client.get("/Roles", params={"startIndex": 2, "count": 5}).json()
    assert (page["totalResults"], page["startIndex"], ids_of(page)) == (2, 2, ["r2"])
    one = client.get("/Roles/r2", params={"attributes": "displayName"}).json()
    assert one == {"schemas": [ROLE_SCHEMA["id"]], "id": "r2", "displayName": "Editor"}
    full = client.get("/Roles/r1").json()
    assert full["meta"] == {
        "resourceType": "Role",
        "location": "http://testserver/scim/v2/Roles/r1",
    }
    less = client.get("/Roles", params={"excludedAttributes": "description"}).json()
    assert all("description" not in r for r in less["Resources"])


def ids_of(page: dict[str, Any]) -> list[str]:
    return [r["id"] for r in page["Resources"]]


def test_errors(roles: tuple[ScimClient, Path]) -> None:
    client, _ = roles
    assert_scim_error(client.get("/Roles/nope"), 404)
    assert_scim_error(
        client.get("/Roles", params={"filter": 'userName eq "x"'}), 400, "invalidFilter"
    )
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        path = "/Roles" if method == "POST" else "/Roles/r1"
        refused = client.request(method, path, {"displayName": "x"})
        assert_scim_error(refused, 405)
        assert refused.headers["Allow"] == "GET, HEAD"
    unauthenticated = client.http.get("/scim/v2/Roles")
    assert_scim_error(unauthenticated, 401)


def test_a_changed_file_is_read_again(roles: tuple[ScimClient, Path]) -> None:
    client, records = roles
    rewrite(records, [*ROLES, {"id": "r3", "displayName": "Owner"}])
    assert ids(client.get("/Roles")) == ["r1", "r2", "r3"]
    user = client.post("/Users", {"userName": "u", "roles": [{"value": "r3"}]})
    assert user.status_code == 201, user.text
    rewrite(records, [{"id": "r1", "displayName": "Viewer"}])
    assert ids(client.get("/Roles")) == ["r1"]
    assert_scim_error(
        client.post("/Users", {"userName": "v", "roles": [{"value": "r3"}]}), 400, "invalidValue"
    )


def test_a_broken_file_leaves_the_last_good_records(
    roles: tuple[ScimClient, Path], caplog: pytest.LogCaptureFixture
) -> None:
    client, records = roles
    assert ids(client.get("/Roles")) == ["r1", "r2"]
    rewrite(records, '[{"id": "r9"}]')  # displayName is required
    with caplog.at_level(logging.ERROR, logger="app.records"):
        assert ids(client.get("/Roles")) == ["r1", "r2"]
    assert "displayName is required" in caplog.text and "stay in force" in caplog.text


def test_a_missing_file_is_no_records(roles: tuple[ScimClient, Path]) -> None:
    client, records = roles
    records.unlink()
    listed = client.get("/Roles").json()
    assert listed["totalResults"] == 0 and listed["Resources"] == []
    assert_scim_error(
        client.post("/Users", {"userName": "u", "roles": [{"value": "r1"}]}), 400, "invalidValue"
    )


def test_without_a_role_type_roles_are_free(client: ScimClient) -> None:
    """Only a declared resource type of the Role schema makes roles name records."""
    created = client.post("/Users", {"userName": "u", "roles": [{"value": "anything"}]})
    assert created.status_code == 201
