"""Indexes and triggers of declared attributes (app/indexes.py): made when the database opens,
used by the compiled SQL, dropped when no longer declared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app import config, database, filters, indexes, query
from app.resources import GROUP, USER
from tests.conftest import ScimClient, seed_users
from tests.test_extensions import SCHEMA, USER_TYPE, write

# SQLite's schema table, plans and files; the declared attributes' behaviour runs on both
# backends in tests/test_declared.py, PostgreSQL's plans in tests/test_postgres.py.
pytestmark = pytest.mark.sqlite_only

ACME = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
ACME_GROUP = "urn:ietf:params:scim:schemas:extension:acme:2.0:Group"


def ours() -> set[str]:
    rows = database.connection().execute("SELECT name FROM sqlite_master WHERE name GLOB 'xd_*'")
    return {name for (name,) in rows}


def plan(resource_type: Any, text: str) -> str:
    compiled = query.compile(resource_type, filters.parse(text))
    table = resource_type.table
    # As app/store.py runs it: scoped by the tenant first.
    sql = f"SELECT id FROM {table.name} WHERE {table.tenant} = :tenant AND ({compiled.where})"
    params = {**compiled.params, "tenant": "default"}
    rows = database.connection().execute(f"EXPLAIN QUERY PLAN {sql}", params)
    return " | ".join(row[-1] for row in rows)


def test_the_example_declarations_make_their_indexes_and_trigger(declared: ScimClient) -> None:
    names = ours()
    assert any(n.startswith("xd_ix_users_costcenter_") for n in names), names
    assert any(n.startswith("xd_ix_users_employeeid_") for n in names), names
    assert any(n.startswith("xd_ix_groups_groupcode_") for n in names), names
    assert any(n.startswith("xd_tr_users_hiresource_") for n in names), names
    assert len(names) == 4


# (resource type, filter, the SQL compiled for it, the index its plan uses)
# fmt: off
PLANS = [
    (USER, f'{ACME}:costCenter eq "CC1"', f"casefold(json_extract(users.resource, '$.\"{ACME}\".costCenter')) = :p0", "xd_ix_users_costcenter_"),
    (USER, f'{ACME}:employeeId eq "E1"', f"casefold(json_extract(users.resource, '$.\"{ACME}\".employeeId')) = :p0", "xd_ix_users_employeeid_"),
    (GROUP, f'{ACME_GROUP}:groupCode eq "G1"', f"json_extract(groups.resource, '$.\"{ACME_GROUP}\".groupCode') = :p0", "xd_ix_groups_groupcode_"),
]
# fmt: on


@pytest.mark.parametrize(
    ("resource_type", "text", "sql", "index"), PLANS, ids=[p[3] for p in PLANS]
)
def test_eq_on_an_indexed_attribute_uses_its_index(
    declared: ScimClient, resource_type: Any, text: str, sql: str, index: str
) -> None:
    assert query.compile(resource_type, filters.parse(text)).where == sql
    assert f"USING INDEX {index}" in plan(resource_type, text), plan(resource_type, text)


def test_an_attribute_without_an_index_is_read_from_the_json(declared: ScimClient) -> None:
    compiled = query.compile(USER, filters.parse(f"{ACME}:clearanceLevel eq 3"))
    assert compiled.where == "json_extract(users.resource, :p0) = :p1"
    found = plan(USER, f"{ACME}:clearanceLevel eq 3")
    # Every row of the tenant is read: at most an index narrows to the tenant.
    assert "SCAN users" in found or found.endswith("(tenant=?)"), found


def test_the_lookup_okta_sends_uses_the_index(declared: ScimClient) -> None:
    seed_users(
        {"userName": f"u{i}", ACME: {"costCenter": f"CC{i % 10}", "employeeId": f"E{i}"}}
        for i in range(50)
    )
    found = declared.get("/Users", params={"filter": f'{ACME}:employeeId eq "e7"'}).json()
    assert [u["userName"] for u in found["Resources"]] == ["u7"]
    assert "xd_ix_users_employeeid_" in plan(USER, f'{ACME}:employeeId eq "e7"')


def test_a_declaration_removed_drops_its_index(make_client: Any, tmp_path: Path) -> None:
    indexed = {**SCHEMA, "attributes": [{"name": "costCenter", "type": "string", "indexed": True}]}
    first = write(tmp_path / "a", {"acme.json": indexed, "user.json": USER_TYPE})
    second = write(tmp_path / "b", {"acme.json": SCHEMA, "user.json": USER_TYPE})
    make_client(schemas_dir=first)
    database.db()
    assert len(ours()) == 1
    path = config.get().db_path
    config.use(config.get().with_overrides(schemas_dir=second))
    database.db().conn.close()
    reopened = database.open_database(path)  # a script opening the file drops nothing
    assert len(list(reopened.execute("SELECT name FROM sqlite_master WHERE name GLOB 'xd_*'"))) == 1
    indexes.ensure(reopened.conn, drop_stale=True)  # the server's start does
    assert not list(reopened.execute("SELECT name FROM sqlite_master WHERE name GLOB 'xd_*'"))
    reopened.conn.close()


def test_uniqueness_over_duplicates_stops_the_start(make_client: Any, tmp_path: Path) -> None:
    plain = write(tmp_path / "a", {"acme.json": SCHEMA, "user.json": USER_TYPE})
    unique = {
        **SCHEMA,
        "attributes": [{"name": "costCenter", "type": "string", "uniqueness": "server"}],
    }
    strict = write(tmp_path / "b", {"acme.json": unique, "user.json": USER_TYPE})
    make_client(schemas_dir=plain)
    seed_users(
        [{"userName": "a", ACME: {"costCenter": "X"}}, {"userName": "b", ACME: {"costCenter": "x"}}]
    )
    path = config.get().db_path
    config.use(config.get().with_overrides(schemas_dir=strict))
    with pytest.raises(indexes.StorageError, match="costCenter is declared unique"):
        database.open_database(path)


def test_no_declarations_no_indexes(client: ScimClient) -> None:
    client.create_user("a")
    assert ours() == set()
    assert config.get().schemas_dir is None
