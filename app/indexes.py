"""Indexes and triggers for declared attributes, made when the database opens (no migration).

An attribute declared `indexed: true` or `uniqueness: server` (or `global`, which this server
can only enforce as `server`) gets an expression index over its place in the resource JSON:
`casefold(json_extract(resource, '$."<urn>".<name>'))` when its text compares without letter
case (caseExact false, RFC 7643 §2.2), the bare `json_extract(...)` otherwise; a UNIQUE one for
uniqueness, scoped like userName's (per tenant: every index here leads with the tenant).
app/query.py compares the attribute through exactly that expression, so SQLite's planner
answers `eq` from the index. An `immutable`
attribute gets a trigger refusing an UPDATE that changes or removes a value once set.

Names start with `xd_` and carry a digest of the definition: a changed declaration makes a new
index, and when the server starts it drops the old one and those of attributes no longer
declared, so a uniqueness no longer declared stops being enforced. The SQL is built from
declared names only, which app/extensions.py limits to letters, digits, `.`, `-`, `_`, `:`.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from app import dialect, errors
from app.resources import RESOURCE_TYPES, Attribute, Registry, ResourceType, registry

PREFIX = "xd_"
MUTABILITY = "mutability: "  # how a trigger's error starts (RAISE(ABORT, ...))
# SQLite names the index in its message; PostgreSQL names the constraint.
_INDEX_NAME = re.compile(r"(?:index '|constraint \")(xd_ix_\w+)")


class StorageError(Exception):
    """A declaration the stored data cannot satisfy (e.g. uniqueness over duplicates)."""


@dataclass(frozen=True)
class Declared:
    """An index or trigger for one declared attribute of one resource type's table."""

    name: str
    table: str
    urn: str
    attribute: Attribute
    sql: str


def expression(table: str, urn: str, attribute: Attribute) -> str:
    """The indexed expression's operand: the attribute's value in `<table>.resource` (the table
    named, as app/query.py names it; the planner matches it to the index's bare column), e.g.
    SQLite's `json_extract(resource, '$."<urn>".<name>')`."""
    column = f"{table}.resource" if table else "resource"
    sql = dialect.current()
    path = sql.path_literal([urn, attribute.name])
    return sql.scalar(column, path, dialect.kind_of(attribute.type))


def folds(attribute: Attribute) -> bool:
    """Whether the attribute's text compares casefolded (caseExact false)."""
    return attribute.type in ("string", "reference") and not attribute.case_exact


def indexed(resource_type: ResourceType, urn: str | None, attribute: Attribute) -> bool:
    """Whether an index of this module stands for `<urn>:<attribute>` of the resource type."""
    return (
        urn is not None
        and urn in registry().declared
        and (attribute.indexed or attribute.uniqueness != "none")
        and resource_type.name in RESOURCE_TYPES
    )


def declared(schemas: Registry) -> list[Declared]:
    """Every index and trigger the Registry's declared attributes need."""
    found = []
    for type_name, resource_type in RESOURCE_TYPES.items():
        table = resource_type.table
        for urn in schemas.extensions.get(type_name, ()):
            if urn not in schemas.declared:
                continue
            for attribute in schemas.attributes[urn].values():
                found += _for(table.name, table.tenant, urn, attribute)
    return found


def _for(table: str, tenant: str, urn: str, attribute: Attribute) -> list[Declared]:
    found = []
    slug = re.sub(r"\W", "", attribute.name.lower())
    if attribute.indexed or attribute.uniqueness != "none":
        operand = expression("", urn, attribute)
        operand = dialect.current().fold(operand) if folds(attribute) else operand
        unique = "UNIQUE " if attribute.uniqueness != "none" else ""
        # Led by the tenant, like every index of the table: a tenant's lookups stay in its own
        # entries, and uniqueness is per tenant, as userName's is.
        columns = f"{tenant}, {operand}"
        name = _name("ix", table, slug, unique + columns)
        sql = f"CREATE {unique}INDEX {name} ON {table}({columns})"
        found.append(Declared(name, table, urn, attribute, sql))
    if attribute.mutability == "immutable":
        old = expression("OLD", urn, attribute)
        new = expression("NEW", urn, attribute)
        message = f"{MUTABILITY}{urn}:{attribute.name}"
        name = _name("tr", table, slug, old)
        found.append(
            Declared(name, table, urn, attribute, _trigger(name, table, old, new, message))
        )
    return found


def _trigger(name: str, table: str, old: str, new: str, message: str) -> str:
    if dialect.current() is dialect.SQLITE:
        return (
            f"CREATE TRIGGER {name} BEFORE UPDATE OF resource ON {table}"
            f" WHEN {old} IS NOT NULL AND {new} IS NOT {old}"
            f" BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )
    # PostgreSQL: a trigger runs a function of the same name; class 23 (integrity constraint
    # violation) makes it an IntegrityError, as SQLite's RAISE(ABORT) is.
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" IF {old} IS NOT NULL AND {new} IS DISTINCT FROM {old} THEN"
        f" RAISE EXCEPTION '{message}' USING ERRCODE = '23000'; END IF; RETURN NEW; END $$;\n"
        f"CREATE TRIGGER {name} BEFORE UPDATE OF resource ON {table}"
        f" FOR EACH ROW EXECUTE FUNCTION {name}()"
    )


def _name(kind: str, table: str, slug: str, definition: str) -> str:
    digest = hashlib.sha256(definition.encode()).hexdigest()[:10]
    return f"{PREFIX}{kind}_{table}_{slug}_{digest}"


def ensure(conn: sqlite3.Connection, drop_stale: bool = False) -> None:
    """Create the indexes and triggers the Registry in force needs; with `drop_stale` (the
    server's start, app/main.py), drop ours it does not. Another process opening the file (a
    script, the bench's seeding) without the server's SCIM_SCHEMAS_DIR so drops nothing."""
    conn.execute("BEGIN IMMEDIATE")  # workers opening one file together do this once
    try:
        reconcile(conn, drop_stale)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


# Ours, with their kind and table: SQLite's schema table, PostgreSQL's catalogs.
_EXISTING = {
    "sqlite": "SELECT type, name, tbl_name FROM sqlite_master WHERE name GLOB 'xd_*'",
    "postgres": (
        "SELECT 'index', indexname, tablename FROM pg_indexes"
        " WHERE schemaname = current_schema() AND indexname LIKE 'xd\\_%'"
        " UNION ALL SELECT 'trigger', t.tgname, c.relname FROM pg_trigger t"
        " JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE c.relnamespace = current_schema()::regnamespace"
        " AND t.tgname LIKE 'xd\\_%'"
    ),
}


def reconcile(conn: sqlite3.Connection, drop_stale: bool = False) -> None:
    """ensure()'s work inside the caller's write transaction."""
    wanted = {d.name: d for d in declared(registry())}
    sql = dialect.current()
    existing = {(kind, name, table) for kind, name, table in conn.execute(_EXISTING[sql.name])}
    for kind, name, table in existing:
        if drop_stale and name not in wanted and kind in ("index", "trigger"):
            on = f" ON {table}" if sql is dialect.POSTGRES and kind == "trigger" else ""
            conn.execute(f"DROP {kind.upper()} IF EXISTS {name}{on}")
            if on:
                conn.execute(f"DROP FUNCTION IF EXISTS {name}()")
    for name, item in wanted.items():
        if not any(n == name for _, n, _ in existing):
            _create(conn, item)


def _create(conn: sqlite3.Connection, item: Declared) -> None:
    try:
        for statement in item.sql.split(";\n"):
            conn.execute(statement)
    except sqlite3.IntegrityError as exc:
        raise StorageError(
            f"{item.urn}:{item.attribute.name} is declared unique, but stored rows of"
            f" {item.table} share a value: make them unique, or declare uniqueness none"
        ) from exc


def violation(resource: dict[str, Any], exc: sqlite3.IntegrityError) -> errors.ScimError | None:
    """The SCIM error for a write one of these indexes or triggers refused, if it was one."""
    text = str(exc)
    if text.startswith(MUTABILITY):
        path = text[len(MUTABILITY) :]
        return errors.Mutability(f"{path} is immutable: once set it cannot change (RFC 7643 §2.2)")
    found = _INDEX_NAME.search(text)
    if found is None:
        return None
    item = next((d for d in declared(registry()) if d.name == found.group(1)), None)
    if item is None:
        return None
    value = resource.get(item.urn, {}).get(item.attribute.name)
    return errors.Uniqueness(f"{item.urn}:{item.attribute.name} {value!r} is already taken")
