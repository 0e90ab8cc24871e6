"""PostgreSQL only (app/postgres.py, app/pg_schema.py, app/dialect.py): placeholders, migrations,
the plans of the hot filters, and a database out of reach answered 503, never 500, never a hang.
The HTTP suite itself runs on both backends through the `backend` fixture (tests/conftest.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from app import config, database, filters, postgres, query, tables
from app.resources import GROUP, USER
from app.tables import TABLES, Table
from tests import backends
from tests.conftest import EXAMPLES, ScimClient, app_for, assert_scim_error, seed_users


@pytest.mark.parametrize(
    ("sqlite", "psycopg_sql"),
    [
        ("SELECT 1 FROM t WHERE a = ? AND b = ?", "SELECT 1 FROM t WHERE a = %s AND b = %s"),
        ("WHERE a = :p0 OR b = :p0", "WHERE a = %(p0)s OR b = %(p0)s"),
        ("WHERE k LIKE 'urn:%' AND x = :x", "WHERE k LIKE 'urn:%%' AND x = %(x)s"),
        ("SELECT '{a,b}'::text[], ':no' || ?", "SELECT '{a,b}'::text[], ':no' || %s"),
        ("SELECT 'it''s ?' , \"col:x\"", "SELECT 'it''s ?' , \"col:x\""),
        ("SELECT 5 % 2", "SELECT 5 %% 2"),
    ],
)
def test_placeholders_are_translated_once(sqlite: str, psycopg_sql: str) -> None:
    assert postgres.translate(sqlite) == psycopg_sql


# --- on a server ---------------------------------------------------------------------------

pg = pytest.mark.postgres
pytestmark = pytest.mark.postgres_only


@pytest.fixture
def pg_client(make_client: Callable[..., ScimClient]) -> ScimClient:
    return make_client()


@pg
def test_migrating_twice_and_at_once_migrates_once(postgres_url: str) -> None:
    url = backends.create()
    try:
        versions: list[int] = []
        threads = [
            threading.Thread(target=lambda: versions.append(postgres.migrate(url)))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert versions == [1, 1, 1, 1]
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (1,)
            assert conn.execute("SELECT count(*) FROM tenants").fetchone() == (1,)
    finally:
        backends.drop(url)


ROWS = 5000

_FILL = [
    f"""INSERT INTO users (tenant, id, user_name_key, resource, created, last_modified)
    SELECT 'default', 'u' || g, 'user' || g, json_build_object('userName', 'user' || g,
        'externalId', 'e' || g, 'emails', json_build_array(json_build_object('value',
        'user' || g || '@x.org', 'type', 'work'))), '2026', '2026'
    FROM generate_series(1, {ROWS}) g""",
    f"""INSERT INTO user_emails (value_key, user_id)
    SELECT 'user' || g || '@x.org', 'u' || g FROM generate_series(1, {ROWS}) g""",
    f"""INSERT INTO groups (tenant, id, display_name_key, resource, created, last_modified)
    SELECT 'default', 'g' || g, 'group' || g, json_build_object('displayName', 'group' || g,
        'externalId', 'e' || g), '2026', '2026'
    FROM generate_series(1, {ROWS}) g""",
    f"""INSERT INTO group_members (group_id, user_id)
    SELECT 'g' || (g % 50 + 1), 'u' || g FROM generate_series(1, {ROWS}) g""",
    "ANALYZE",
]


def _plan(sql: str, params: dict[str, Any]) -> str:
    """EXPLAIN of a statement over tables of ROWS users and groups, analysed."""
    with database.write_sync() as conn:
        for fill in _FILL[:-1]:
            conn.execute(fill)
    database.connection().execute(_FILL[-1])
    rows = database.connection().execute(f"EXPLAIN {sql}", params).fetchall()
    return "\n".join(row[0] for row in rows)


@pg
@pytest.mark.parametrize(
    ("resource_type", "table", "text", "index"),
    [
        (USER, "users", 'userName eq "x"', "ux_users_user_name_key"),
        (USER, "users", 'externalId eq "x"', "ix_users_external_id"),
        (USER, "users", 'id eq "x"', "users_id_key"),
        (GROUP, "groups", 'displayName eq "x"', "ix_groups_display_name_key"),
        (GROUP, "groups", 'externalId eq "x"', "ix_groups_external_id"),
        (USER, "users", 'emails.value eq "x"', "user_emails_pkey"),
        (USER, "users", 'emails eq "x"', "user_emails_pkey"),
        (USER, "users", 'emails[type eq "work"].value eq "x"', "user_emails_pkey"),
        (GROUP, "groups", 'members.value eq "x"', "ix_group_members_user"),
        (USER, "users", 'groups.value eq "x"', "group_members_pkey"),
    ],
)
def test_hot_filters_use_an_index(
    pg_client: ScimClient, resource_type: Any, table: str, text: str, index: str
) -> None:
    compiled = query.compile(resource_type, filters.parse(text))
    sql = f"SELECT id FROM {table} WHERE {table}.tenant = :tenant AND ({compiled.where})"
    plan = _plan(sql, {**compiled.params, "tenant": "default"})
    assert index in plan, plan


@pg
def test_a_declared_indexed_attribute_uses_its_expression_index(
    make_client: Callable[..., ScimClient],
) -> None:
    make_client(served=app_for(EXAMPLES), schemas_dir=EXAMPLES)
    acme = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
    compiled = query.compile(USER, filters.parse(f'{acme}:costCenter eq "CC1"'))
    sql = f"SELECT id FROM users WHERE users.tenant = :tenant AND ({compiled.where})"
    plan = _plan(sql, {**compiled.params, "tenant": "default"})
    assert "xd_ix_users_costcenter_" in plan, plan


@pg
def test_an_unreachable_server_is_a_503_with_retry_after(pg_client: ScimClient) -> None:
    config.use(config.get().with_overrides(db_path="postgresql://postgres@127.0.0.1:1/none"))
    started = time.monotonic()
    for path in ("/Users", "/Groups?filter=displayName%20eq%20%22x%22"):
        response = pg_client.get(path)
        body = assert_scim_error(response, 503)
        assert response.headers["Retry-After"] == "2", body
    created = pg_client.post("/Users", {"schemas": [], "userName": "nobody"})
    assert created.status_code in (400, 503)
    assert time.monotonic() - started < 20


@pg
def test_lost_connections_recover_on_their_own(pg_client: ScimClient, postgres_url: str) -> None:
    pg_client.create_user("before")
    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(backends.ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
    statuses = [pg_client.get("/Users").status_code for _ in range(3)]
    assert set(statuses) <= {200, 503} and statuses[-1] == 200, statuses
    pg_client.create_user("after")
    assert pg_client.get("/Users").json()["totalResults"] == 2


@pg
def test_an_exhausted_pool_is_a_503_not_a_hang(pg_client: ScimClient) -> None:
    pool = postgres.pool()
    saved, pool.timeout = pool.timeout, 0.5
    held = [pool.getconn() for _ in range(postgres.POOL_SIZE)]
    try:
        started = time.monotonic()
        assert_scim_error(pg_client.get("/Users"), 503)
        assert time.monotonic() - started < 5
    finally:
        for conn in held:
            pool.putconn(conn)
        pool.timeout = saved
    assert_scim_error(pg_client.get("/Users"), 503)  # at once, for OUTAGE_SECONDS
    time.sleep(postgres.OUTAGE_SECONDS)
    assert pg_client.get("/Users").status_code == 200


@pg
def test_a_failed_write_leaves_nothing_and_releases_the_lock(pg_client: ScimClient) -> None:
    ids = seed_users([{"userName": "kept"}])
    with pytest.raises(RuntimeError), database.write_sync() as conn:
        conn.execute("UPDATE users SET version = 99 WHERE id = ?", [ids[0]])
        raise RuntimeError("the handler failed")
    assert pg_client.get(f"/Users/{ids[0]}").json()["meta"]["version"] == 'W/"1"'
    pg_client.create_user("next")  # the advisory lock was released with the rollback


@pg
def test_text_with_nul_is_a_400_not_a_500(pg_client: ScimClient) -> None:
    user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "nul"}
    assert_scim_error(pg_client.post("/Users", {**user, "title": "a\u0000b"}), 400, "invalidValue")
    emails = [{"value": "a\u0000@x.org"}]
    assert_scim_error(pg_client.post("/Users", {**user, "emails": emails}), 400, "invalidValue")
    assert pg_client.post("/Users", {**user, "title": "a\\u0000b"}).status_code == 201
    assert pg_client.get("/Users").json()["totalResults"] == 1


@pg
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name pr", ["full"]),
        ("emails pr", ["full"]),
        ("not (emails pr)", ["bare", "nulls"]),
        ('emails[type eq "work"]', ["full"]),
        ("name.givenName pr", ["full"]),
        ("active eq true", ["bare", "full"]),
        ("active eq false", ["nulls"]),
        ('title gt "A"', ["full"]),
    ],
)
def test_json_values_of_every_kind_compare(
    pg_client: ScimClient, text: str, expected: list[str]
) -> None:
    pg_client.create_user(
        "full", name={"givenName": "F"}, emails=[{"value": "f@x.org", "type": "work"}], title="B"
    )
    pg_client.create_user("bare")
    pg_client.create_user("nulls", active=False)
    found = pg_client.get("/Users", params={"filter": text})
    assert found.status_code == 200, found.text
    assert sorted(r["userName"] for r in found.json()["Resources"]) == expected


def _pg_columns(url: str, table: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s",
            [table],
        ).fetchall()
    return {row[0] for row in rows}


@pg
@pytest.mark.parametrize("table", TABLES.values(), ids=list(TABLES))
def test_the_storage_map_names_what_the_postgresql_schema_has(
    postgres_url: str, table: Table
) -> None:
    found = _pg_columns(postgres_url, table.name)
    assert set(tables.ROW_COLUMNS) | {table.key.name, "seq", table.tenant} <= found
    assert {column.name for column in table.columns.values()} <= found
    assert table.password is None or table.password in found
    for index in table.value_indexes.values():
        assert {index.value, index.owner} <= _pg_columns(postgres_url, index.table)
    with psycopg.connect(postgres_url) as conn:
        names = {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes")}
    assert {table.seq_index, tables.OUTBOX.unacked_index} <= names
