"""Tenants: base URLs, tokens bound to one tenant, isolation, rates, admin commands, migration."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from app import config, database, migrations, rates, tenant_store
from app.tenants import main as tenants_command
from tests.conftest import BASE, USER_SCHEMA, ScimClient, assert_scim_error

ACME = f"{BASE}/tenants/acme"
GLOBEX = f"{BASE}/tenants/globex"


class TenantClient:
    """Requests to one tenant's base URL with one token."""

    def __init__(self, client: ScimClient, base: str, token: str) -> None:
        self.http, self.base, self.token = client.http, base, token

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/scim+json"
        content = json.dumps(body) if body is not None else None
        return self.http.request(method, self.base + path, headers=headers, content=content)

    def create_user(self, user_name: str, **attributes: Any) -> dict[str, Any]:
        body = {"schemas": [USER_SCHEMA], "userName": user_name, **attributes}
        response = self.request("POST", "/Users", body)
        assert response.status_code == 201, response.text
        return dict(response.json())


@pytest.fixture
def tenants(client: ScimClient, monkeypatch: Any) -> dict[str, TenantClient]:
    """Two tenants made with the admin command's store calls, and the default tenant."""
    monkeypatch.setattr(tenant_store, "CACHE_SECONDS", 0.0)
    tokens = {name: tenant_store.add(name) for name in ("acme", "globex")}
    return {
        "acme": TenantClient(client, ACME, tokens["acme"]),
        "globex": TenantClient(client, GLOBEX, tokens["globex"]),
        "default": TenantClient(client, BASE, "test-token"),
    }


def test_a_tenant_has_its_own_users_urls_and_uniqueness(tenants: dict[str, TenantClient]) -> None:
    acme, globex, default = tenants["acme"], tenants["globex"], tenants["default"]
    ann = acme.create_user("ann@example.com")
    assert ann["meta"]["location"] == f"http://testserver{ACME}/Users/{ann['id']}"
    created = acme.request("POST", "/Users", {"userName": "bob"})
    assert created.headers["Location"].startswith(f"http://testserver{ACME}/Users/")
    # The same userName in another tenant is another user; in the same tenant it is taken.
    assert globex.create_user("ANN@example.com")["id"] != ann["id"]
    default.create_user("ann@example.com")
    assert_scim_error(
        acme.request("POST", "/Users", {"userName": "Ann@Example.com"}), 409, "uniqueness"
    )
    for tenant, expected in ((acme, ["ann@example.com", "bob"]), (globex, ["ANN@example.com"])):
        listed = tenant.request("GET", "/Users").json()
        assert [u["userName"] for u in listed["Resources"]] == expected
    # Another tenant's resource does not exist here, whatever the method.
    for tenant in (globex, default):
        assert_scim_error(tenant.request("GET", f"/Users/{ann['id']}"), 404)
        assert_scim_error(tenant.request("PUT", f"/Users/{ann['id']}", {"userName": "x"}), 404)
        assert_scim_error(tenant.request("DELETE", f"/Users/{ann['id']}"), 404)
    found = globex.request("GET", "/Users?filter=" + 'userName eq "ann@example.com"').json()
    assert [u["id"] for u in found["Resources"]] != [ann["id"]]
    assert acme.request("GET", f"/Users/{ann['id']}").status_code == 200


def test_members_come_from_the_same_tenant(tenants: dict[str, TenantClient]) -> None:
    acme, globex = tenants["acme"], tenants["globex"]
    ann = acme.create_user("ann")
    stranger = globex.create_user("stranger")
    group = acme.request(
        "POST", "/Groups", {"displayName": "Staff", "members": [{"value": ann["id"]}]}
    )
    assert group.status_code == 201, group.text
    refused = acme.request(
        "PATCH",
        f"/Groups/{group.json()['id']}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": stranger["id"]}]}],
        },
    )
    assert_scim_error(refused, 400, "invalidValue")
    assert globex.request("GET", "/Groups").json()["totalResults"] == 0
    assert acme.request("GET", f"/Users/{ann['id']}").json()["groups"][0]["display"] == "Staff"


# (whose token, on whose URL, path) -> 401: a token opens its own tenant only, and a refusal
# says nothing about whether the tenant exists.
REFUSED = [
    ("acme", "globex", "/Users"),
    ("globex", "acme", "/Groups"),
    ("acme", "default", "/Users"),
    ("default", "acme", "/Users"),
    ("acme", "nosuch", "/Users"),
    ("default", "nosuch", "/Users"),
]


@pytest.mark.parametrize(
    ("owner", "url", "path"), REFUSED, ids=[f"{o}-on-{u}" for o, u, _ in REFUSED]
)
def test_a_token_opens_its_own_tenant_only(
    tenants: dict[str, TenantClient], owner: str, url: str, path: str
) -> None:
    base = {"default": BASE, "nosuch": f"{BASE}/tenants/nosuch"}.get(url, f"{BASE}/tenants/{url}")
    target = TenantClient(tenants[owner], base, tenants[owner].token)  # type: ignore[arg-type]
    error = assert_scim_error(target.request("GET", path), 401)
    unknown = assert_scim_error(target.request("GET", path, token="no-such-token"), 401)
    assert error["detail"] == unknown["detail"]


def test_rotation_revocation_and_expiry(tenants: dict[str, TenantClient]) -> None:
    acme = tenants["acme"]
    second = tenant_store.add_token("acme")
    assert acme.request("GET", "/Users", token=second).status_code == 200
    with pytest.raises(tenant_store.errors.InvalidValue, match="2 live tokens"):
        tenant_store.add_token("acme")
    tenant_store.revoke("acme", acme.token[:8])
    assert_scim_error(acme.request("GET", "/Users"), 401)
    assert acme.request("GET", "/Users", token=second).status_code == 200
    expiring = tenant_store.add_token("acme", expires_in_days=-1)
    assert_scim_error(acme.request("GET", "/Users", token=expiring), 401)
    listed = {t.name: t for t in tenant_store.listing()}["acme"]
    assert {t.prefix for t in listed.tokens} == {second[:8], expiring[:8]}
    assert next(t for t in listed.tokens if t.prefix == second[:8]).last_used is not None


def test_discovery_and_errors_speak_the_tenant_url(tenants: dict[str, TenantClient]) -> None:
    spc = tenants["acme"].request("GET", "/ServiceProviderConfig").json()
    assert spc["meta"]["location"] == f"http://testserver{ACME}/ServiceProviderConfig"
    assert_scim_error(tenants["acme"].request("GET", "/Nothing"), 404)
    assert_scim_error(tenants["acme"].request("DELETE", "/Users"), 405)


def test_a_tenant_over_its_rate_gets_429(
    tenants: dict[str, TenantClient], monkeypatch: Any
) -> None:
    monkeypatch.setattr(rates, "_buckets", {})
    tenant_store.set_rate_limit("acme", 2)
    acme, globex = tenants["acme"], tenants["globex"]
    statuses = [acme.request("GET", "/Users").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = acme.request("GET", "/Users")
    assert_scim_error(refused, 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert [globex.request("GET", "/Users").status_code for _ in range(3)] == [200] * 3


def test_the_server_wide_rate_applies_to_tenants_without_their_own(
    make_client: Callable[..., ScimClient], monkeypatch: Any
) -> None:
    monkeypatch.setattr(rates, "_buckets", {})
    client = make_client(tenant_rate_limit=1.0)
    assert [client.get("/Users").status_code for _ in range(2)] == [200, 429]


# --- admin commands ----------------------------------------------------------------------------


def run(capsys: Any, *argv: str) -> Any:
    assert tenants_command([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_admin_commands(client: ScimClient, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(tenant_store, "CACHE_SECONDS", 0.0)
    db = config.get().db_path
    added = run(capsys, "add", "initech", "--db", db)
    assert added["base_url"].endswith("/scim/v2/tenants/initech") and len(added["token"]) > 30
    tenant = TenantClient(client, f"{BASE}/tenants/initech", added["token"])
    tenant.create_user("peter")
    listed = {t["name"]: t for t in run(capsys, "list", "--db", db)}
    assert (listed["initech"]["users"], listed["initech"]["groups"]) == (1, 0)
    assert [t["prefix"] for t in listed["initech"]["tokens"]] == [added["token"][:8]]
    assert "token" not in json.dumps(listed["initech"]["tokens"]).replace('"tokens"', "")
    second = run(capsys, "token", "initech", "--db", db)["token"]
    run(capsys, "revoke", "initech", added["token"][:8], "--db", db)
    assert_scim_error(tenant.request("GET", "/Users"), 401)
    assert tenant.request("GET", "/Users", token=second).status_code == 200
    assert run(capsys, "rate", "initech", "50", "--db", db)["rate_limit"] == 50.0
    assert tenants_command(["remove", "default", "--yes", "--db", db]) == 1
    assert tenants_command(["add", "Not_URL_safe", "--db", db]) == 1
    assert tenants_command(["add", "initech", "--db", db]) == 1
    run(capsys, "remove", "initech", "--yes", "--db", db)
    assert "initech" not in {t["name"] for t in run(capsys, "list", "--db", db)}
    assert_scim_error(tenant.request("GET", "/Users", token=second), 401)
    counts = database.connection().execute("SELECT count(*) FROM users WHERE tenant = 'initech'")
    assert counts.fetchone()[0] == 0


# --- migration of a single-tenant database ------------------------------------------------------


def test_a_single_tenant_database_upgrades_into_the_default_tenant(
    tmp_path: Path, make_client: Callable[..., ScimClient]
) -> None:
    """A file made by the previous version (migrations 1-3) keeps every row, in the default
    tenant, with its memberships and email index, and takes new tenants afterwards."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.create_function("casefold", 1, lambda v: v.casefold() if isinstance(v, str) else v)
    conn.execute("BEGIN")
    for step in migrations.STEPS[:3]:
        for statement in migrations._statements(step):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    rows = [
        ("u1", "ann", '{"userName": "Ann", "emails": [{"value": "ann@x.org"}]}'),
        ("u2", "bob", '{"userName": "bob"}'),
    ]
    for uid, key, resource in rows:
        conn.execute(
            "INSERT INTO users (id, user_name_key, resource, created, last_modified)"
            " VALUES (?, ?, ?, 'c', 'm')",
            [uid, key, resource],
        )
    conn.execute("INSERT INTO user_emails VALUES ('ann@x.org', 'u1')")
    conn.execute(
        "INSERT INTO groups (id, display_name_key, resource, created, last_modified)"
        " VALUES ('g1', 'staff', '{\"displayName\": \"Staff\"}', 'c', 'm')"
    )
    conn.execute("INSERT INTO group_members VALUES ('g1', 'u1'), ('g1', 'u2')")
    conn.execute("COMMIT")
    conn.close()
    client = make_client()
    config.use(config.get().with_overrides(db_path=str(path)))  # make_client restores it
    users = client.get("/Users").json()
    assert sqlite_utils.Database(sqlite3.connect(path)).execute("PRAGMA user_version").fetchone()[
        0
    ] == len(migrations.STEPS)
    assert [u["userName"] for u in users["Resources"]] == ["Ann", "bob"]
    staff = client.get("/Groups/g1").json()
    assert [m["value"] for m in staff["members"]] == ["u1", "u2"]
    by_email = client.get("/Users", params={"filter": 'emails.value eq "ANN@x.org"'}).json()
    assert [u["id"] for u in by_email["Resources"]] == ["u1"]
    assert_scim_error(client.post("/Users", {"userName": "ANN"}), 409, "uniqueness")
    token = tenant_store.add("fresh")
    fresh = TenantClient(client, f"{BASE}/tenants/fresh", token)
    assert fresh.create_user("ann")["userName"] == "ann"
