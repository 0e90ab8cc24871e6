"""Property: two tenants driven with random sequences of the same operations on the same
userNames each see exactly what a model of their own operations alone predicts.

Held out from the implementation: the model knows nothing of tables or tenants' storage, only
that a tenant is a separate directory where userName is unique regardless of letter case.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import database, tenant_store
from tests.conftest import BASE, ScimClient
from tests.test_tenants import TenantClient

NAMES = ["ann", "Ann", "bob", "ß", "SS", "é"]
TENANTS = ["acme", "globex"]
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

operation = st.tuples(
    st.sampled_from(TENANTS),
    st.sampled_from(["create", "patch", "put", "delete", "lookup", "get_other"]),
    st.sampled_from(NAMES),
    st.sampled_from(["t1", "t2", "t3"]),
)


@pytest.fixture
def pair(client: ScimClient) -> dict[str, TenantClient]:
    return {
        name: TenantClient(client, f"{BASE}/tenants/{name}", tenant_store.add(name))
        for name in TENANTS
    }


class Model:
    """What one tenant must hold: casefolded userName -> (userName, title, id)."""

    def __init__(self) -> None:
        self.users: dict[str, tuple[str, str, str]] = {}


def step(
    tenants: dict[str, TenantClient], models: dict[str, Model], op: tuple[str, str, str, str]
) -> None:
    tenant_name, kind, name, title = op
    tenant, model = tenants[tenant_name], models[tenant_name]
    key = name.casefold()
    known = model.users.get(key)
    if kind == "create":
        response = tenant.request("POST", "/Users", {"userName": name, "title": title})
        if known:
            assert response.status_code == 409, response.text
        else:
            assert response.status_code == 201, response.text
            model.users[key] = (name, title, response.json()["id"])
    elif kind in ("patch", "put", "delete") and known:
        path = f"/Users/{known[2]}"
        if kind == "patch":
            body = {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "title", "value": title}],
            }
            assert tenant.request("PATCH", path, body).status_code == 200
            model.users[key] = (known[0], title, known[2])
        elif kind == "put":
            assert (
                tenant.request("PUT", path, {"userName": known[0], "title": title}).status_code
                == 200
            )
            model.users[key] = (known[0], title, known[2])
        else:
            assert tenant.request("DELETE", path).status_code == 204
            del model.users[key]
    elif kind == "lookup":
        found = tenant.request("GET", "/Users?filter=" + f'userName eq "{name}"').json()
        assert [u["id"] for u in found["Resources"]] == ([known[2]] if known else [])
    elif kind == "get_other":
        # Every id the other tenant holds is unknown here, for reads and writes alike.
        other = models[TENANTS[1 - TENANTS.index(tenant_name)]]
        for _, _, other_id in list(other.users.values())[:2]:
            assert tenant.request("GET", f"/Users/{other_id}").status_code == 404
            assert tenant.request("DELETE", f"/Users/{other_id}").status_code == 404


# At least 300 examples in every run of it (about 8 s): in the slow tier, which CI runs.
@pytest.mark.slow
@settings(max_examples=300)
@given(operations=st.lists(operation, max_size=10))
def test_each_tenant_sees_only_its_own_operations(
    pair: dict[str, TenantClient], operations: list[tuple[str, str, str, str]]
) -> None:
    with database.write_sync() as conn:
        conn.execute("DELETE FROM users WHERE tenant IN ('acme', 'globex')")
    models = {name: Model() for name in TENANTS}
    for op in operations:
        step(pair, models, op)
    for name in TENANTS:
        listed: list[dict[str, Any]] = (
            pair[name].request("GET", "/Users?count=100").json()["Resources"]
        )
        expected = sorted(models[name].users.values(), key=lambda u: u[2])
        assert sorted((u["userName"], u.get("title"), u["id"]) for u in listed) == sorted(expected)
