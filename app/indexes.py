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

from app import errors
from app.resources import RESOURCE_TYPES, Attribute, Registry, ResourceType, registry

PREFIX = "xd_"
MUTABILITY = "mutability: "  # how a trigger's error starts (RAISE(ABORT, ...))
_INDEX_NAME = re.compile(r"index '(xd_ix_\w+)'")


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


def json_path(urn: str, attribute: Attribute) -> str:
    """The attribute's JSON path in the resource column (app/query.py writes it the same)."""
    name = attribute.name
    return f'$."{urn}".' + (name if name.replace("_", "").isalnum() else f'"{name}"')


def expression(table: str, urn: str, attribute: Attribute) -> str:
    """The indexed expression's operand: json_extract over `<table>.resource` (the table
    named, as app/query.py names it; the planner matches it to the index's bare column)."""
    column = f"{table}.resource" if table else "resource"
    return f"json_extract({column}, '{json_path(urn, attribute)}')"


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
        operand = f"casefold({operand})" if folds(attribute) else operand
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
        sql = (
            f"CREATE TRIGGER {name} BEFORE UPDATE OF resource ON {table}"
            f" WHEN {old} IS NOT NULL AND {new} IS NOT {old}"
            f" BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )
        found.append(Declared(name, table, urn, attribute, sql))
    return found


def _name(kind: str, table: str, slug: str, definition: str) -> str:
    digest = hashlib.sha256(definition.encode()).hexdigest()[:10]
    return f"{PREFIX}{kind}_{table}_{slug}_{digest}"


def ensure(conn: sqlite3.Connection, drop_stale: bool = False) -> None:
    """Create the indexes and triggers the Registry in force needs; with `drop_stale` (the
    server's start, app/main.py), drop ours it does not. Another process opening the file (a
    script, the bench's seeding) without the server's SCIM_SCHEMAS_DIR so drops nothing."""
    wanted = {d.name: d for d in declared(registry())}
    conn.execute("BEGIN IMMEDIATE")  # workers opening one file together do this once
    try:
        existing = {
            (kind, name)
            for kind, name in conn.execute(
                "SELECT type, name FROM sqlite_master WHERE name GLOB 'xd_*'"
            )
        }
        for kind, name in existing:
            if drop_stale and name not in wanted and kind in ("index", "trigger"):
                conn.execute(f"DROP {kind.upper()} IF EXISTS {name}")
        for name, item in wanted.items():
            if not any(n == name for _, n in existing):
                _create(conn, item)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _create(conn: sqlite3.Connection, item: Declared) -> None:
    try:
        conn.execute(item.sql)
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
