"""The storage map (app/tables.py) names only tables, columns and indexes the migrations create."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlite_utils

from app import database, tables
from app.resources import RESOURCE_TYPES
from app.tables import TABLES, Table


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> sqlite_utils.Database:
    """A database file with every migration applied, read through sqlite-utils."""
    path = Path(tmp_path_factory.mktemp("tables")) / "migrated.db"
    return database.open_database(str(path))


def columns(db: sqlite_utils.Database, table: str) -> set[str]:
    # table_xinfo, unlike sqlite-utils' table_info, lists generated columns (external_id).
    return {row[1] for row in db.execute(f"PRAGMA table_xinfo({table})")}


def indexed(db: sqlite_utils.Database, table: str) -> set[str]:
    """Columns that lead some index (or the primary key) of the table, or come right after
    the tenant in an index that leads with it (a tenant's lookups stay in its own entries)."""
    leading = set()
    for index in db[table].indexes:
        columns = index.columns
        leading.add(columns[1] if columns[0] == "tenant" and len(columns) > 1 else columns[0])
    return leading | set(db[table].pks)


@pytest.mark.parametrize("table", TABLES.values(), ids=list(TABLES))
def test_every_mapped_column_exists_and_is_indexed(
    migrated: sqlite_utils.Database, table: Table
) -> None:
    assert table.name in migrated.table_names()
    found = columns(migrated, table.name)
    assert set(tables.ROW_COLUMNS) | {table.key.name, "seq"} <= found
    for path, column in table.columns.items():
        assert column.name in found, path
    # The lookups Okta and Entra send on every push are answered from an index.
    for path in ("id", table.key_attribute.lower(), "externalid"):
        assert table.columns[path].name in indexed(migrated, table.name), path
    if table.password:
        assert table.password in found
    indexes = {index.name: index.columns for index in migrated[table.name].indexes}
    assert indexes[table.seq_index] == [table.tenant, "seq"]
    assert table.tenant in found


@pytest.mark.parametrize("table", TABLES.values(), ids=list(TABLES))
def test_side_tables_exist_with_their_columns(
    migrated: sqlite_utils.Database, table: Table
) -> None:
    for name, index in table.value_indexes.items():
        assert {index.value, index.owner} <= columns(migrated, index.table), name
        assert index.value in indexed(migrated, index.table), name
    for name, membership in table.memberships.items():
        assert {membership.own, membership.other} <= columns(migrated, tables.MEMBERS_TABLE), name
    for name in table.kept_values:
        assert name in table.value_indexes


@pytest.mark.parametrize("name", list(TABLES))
def test_every_mapped_attribute_is_an_attribute_of_the_resource_type(name: str) -> None:
    resource_type, table = RESOURCE_TYPES[name], TABLES[name]
    for path in table.columns:
        attr, _, sub = path.partition(".")
        attribute = resource_type.attributes[attr]
        assert not sub or sub in attribute.sub, path
    for attr in [*table.memberships, *table.value_indexes, *table.stored_elsewhere]:
        assert attr in resource_type.attributes, attr
    assert table.key_attribute.lower() in table.columns


def test_the_outbox_tables_and_the_index_each_tenants_poll_reads(
    migrated: sqlite_utils.Database,
) -> None:
    outbox = tables.OUTBOX
    for name in (outbox.events, outbox.errors, outbox.receivers, outbox.leases, outbox.state):
        assert name in migrated.table_names()
    assert outbox.tenant in columns(migrated, outbox.events)
    indexes = {index.name: index.columns for index in migrated[outbox.events].indexes}
    assert indexes[outbox.unacked_index] == [outbox.tenant, "seq"]
    # A poll's reads of its tenant's due events use it (not a walk of the acknowledged ones).
    due = "tenant = ? AND acked IS NULL AND (offered IS NULL OR offered <= ?)"
    for sql in (
        f"SELECT seq FROM events WHERE {due} ORDER BY seq LIMIT 10",
        "SELECT max(seq) FROM events WHERE tenant = ? AND acked IS NULL",
    ):
        plan = [
            row[3] for row in migrated.execute(f"EXPLAIN QUERY PLAN {sql}", [1] * sql.count("?"))
        ]
        assert plan == [f"SEARCH events USING INDEX {outbox.unacked_index} (tenant=?)"], sql
