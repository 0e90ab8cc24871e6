"""Filter AST to a parameterised SQL WHERE clause over the stored resources (RFC 7644 §3.4.2.2).

Values and JSON paths are always bound parameters; column names come only from COLUMNS below.
String comparisons honour each attribute's `caseExact`: case-insensitive ones compare
`casefold()`ed text on both sides (SQLite's NOCASE and lower() fold ASCII only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app import errors
from app.evaluate import SCHEMAS, leaf
from app.filters import (
    And,
    AttrPath,
    Compare,
    Node,
    Not,
    Or,
    Present,
    ValuePath,
    datetime_literal,
    parse_path,
)
from app.resources import Attribute, ResourceType

# Indexed columns standing in for attributes: (resource type, lower-case path) -> (column, folded)
# `folded` columns hold casefold()ed text already.
COLUMNS: dict[tuple[str, str], tuple[str, bool]] = {
    ("User", "id"): ("id", False),
    ("User", "username"): ("user_name_key", True),
    ("User", "externalid"): ("external_id", False),
    ("User", "meta.created"): ("created", False),
    ("User", "meta.lastmodified"): ("last_modified", False),
    ("Group", "id"): ("id", False),
    ("Group", "displayname"): ("display_name_key", True),
    ("Group", "externalid"): ("external_id", False),
    ("Group", "meta.created"): ("created", False),
    ("Group", "meta.lastmodified"): ("last_modified", False),
}

# Operator -> SQL template over an expression {x} and a bound value {v}.
OPERATORS: dict[str, str] = {
    "eq": "{x} = {v}",
    "ne": "({x} IS NULL OR {x} <> {v})",
    "co": "instr({x}, {v}) > 0",
    "sw": "substr({x}, 1, length({v})) = {v}",
    "ew": "substr({x}, -length({v})) = {v}",
    "gt": "{x} > {v}",
    "ge": "{x} >= {v}",
    "lt": "{x} < {v}",
    "le": "{x} <= {v}",
}
ORDERING = {"gt", "ge", "lt", "le"}
# meta sub-attributes held in columns; the others (resourceType, location, version) are computed.
STORED_META = {"created", "lastModified"}
SUBSTRING = {"co", "sw", "ew"}

# Multi-valued attributes kept in the membership table rather than in the resource JSON.
MEMBERSHIP = {
    (
        "Group",
        "members",
    ): "SELECT 1 FROM group_members gm WHERE gm.group_id = {table}.id AND {cond}",
    ("User", "groups"): "SELECT 1 FROM group_members gm WHERE gm.user_id = {table}.id AND {cond}",
}
MEMBERSHIP_VALUE = {("Group", "members"): "gm.user_id", ("User", "groups"): "gm.group_id"}

# `<attr>.value eq "x"` answered from an index: the ids of the resources holding that value.
# (subquery over the bound value {v}, whether the index holds casefolded values)
VALUE_INDEXES: dict[tuple[str, str], tuple[str, bool]] = {
    ("User", "emails"): ("SELECT user_id FROM user_emails WHERE value_key = {v}", True),
    ("User", "groups"): ("SELECT user_id FROM group_members WHERE group_id = {v}", False),
    ("Group", "members"): ("SELECT group_id FROM group_members WHERE user_id = {v}", False),
}


@dataclass
class Compiled:
    """A WHERE clause and its parameters."""

    sql: str | None  # None: no filter
    params: dict[str, Any] = field(default_factory=dict)


class _Compiler:
    def __init__(self, resource_type: ResourceType, table: str) -> None:
        self.type, self.table = resource_type, table
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def node(self, node: Node) -> str:
        if isinstance(node, And):
            return f"({self.node(node.left)} AND {self.node(node.right)})"
        if isinstance(node, Or):
            return f"({self.node(node.left)} OR {self.node(node.right)})"
        if isinstance(node, Not):
            return f"NOT coalesce({self.node(node.expr)}, 0)"
        if isinstance(node, ValuePath):
            return self.value_path(node)
        return self.attribute_expression(node)

    def resolve(self, path: AttrPath) -> tuple[str | None, Attribute, Attribute | None]:
        resolved = self.type.resolve(path)
        if resolved is None:
            raise errors.InvalidFilter(
                f"attribute {str(path)!r} cannot be filtered on {self.type.name}s"
            )
        return resolved

    def attribute_expression(self, node: Compare | Present) -> str:
        if node.path == AttrPath(node.path.attr) and node.path.attr.lower() == "schemas":
            return self.schemas(node)
        urn, attribute, sub = self.resolve(node.path)
        if (
            urn is None
            and attribute.name == "meta"
            and (sub is None or sub.name not in STORED_META)
        ):
            raise errors.InvalidFilter(
                f"{node.path} cannot be filtered; use meta.created or meta.lastModified"
            )
        if attribute.multi_valued:
            if sub is None and attribute.type == "complex":
                sub = attribute.sub.get("value")
                if isinstance(node, Present):
                    sub = None
            indexed = VALUE_INDEXES.get((self.type.name, attribute.name.lower()))
            if indexed and sub and sub.name == "value" and _is_text_equality(node):
                subquery, folded = indexed
                value = str(node.value)  # type: ignore[union-attr]
                value = value.casefold() if folded else value
                return f"{self.table}.id IN ({subquery.format(v=self.bind(value))})"
            return self.exists(
                urn,
                attribute,
                lambda element: self.leaf(node, sub or attribute, _child(element, sub)),
            )
        if attribute.type == "complex" and sub is None:
            if isinstance(node, Present):
                path = self.bind(_json_path(urn, attribute))
                return f"json_extract({self.table}.resource, {path}) IS NOT NULL"
            raise errors.InvalidFilter(f"{node.path} is complex; compare one of its sub-attributes")
        column = _column(self.type, urn, attribute, sub)
        if column is not None:
            return self.leaf(node, sub or attribute, f"{self.table}.{column[0]}", folded=column[1])
        json_path = _json_path(urn, attribute, sub)
        expr = f"json_extract({self.table}.resource, {self.bind(json_path)})"
        return self.leaf(node, sub or attribute, expr)

    def schemas(self, node: Compare | Present) -> str:
        # `schemas` is not stored: the core schema is always there, an extension is there when
        # the resource has its attributes. Each URN is compared here, in Python, as the
        # reference evaluator does.
        if isinstance(node, Compare):
            _check_value(node, SCHEMAS)
        conditions = ["1" if leaf(node, self.type.schema, SCHEMAS) else "0"]
        for extension in self.type.extensions:
            if leaf(node, extension, SCHEMAS):
                path = self.bind(f'$."{extension}"')
                conditions.append(f"json_extract({self.table}.resource, {path}) IS NOT NULL")
        return f"({' OR '.join(conditions)})"

    def value_path(self, node: ValuePath) -> str:
        urn, attribute, sub = self.resolve(node.path)
        if not attribute.multi_valued or attribute.type != "complex" or sub is not None:
            raise errors.InvalidFilter(f"{node.path}[...] needs a multi-valued complex attribute")
        return self.exists(
            urn, attribute, lambda element: self.element_filter(node.filter, attribute, element)
        )

    def element_filter(self, node: Node, attribute: Attribute, element: str) -> str:
        if isinstance(node, And | Or):
            joiner = " AND " if isinstance(node, And) else " OR "
            left = self.element_filter(node.left, attribute, element)
            right = self.element_filter(node.right, attribute, element)
            return f"({left}{joiner}{right})"
        if isinstance(node, Not):
            return f"NOT coalesce({self.element_filter(node.expr, attribute, element)}, 0)"
        if isinstance(node, ValuePath):
            raise errors.InvalidFilter("value paths cannot be nested")
        if node.path.urn or node.path.sub:
            raise errors.InvalidFilter(
                f"{node.path} inside {attribute.name}[...] must be a sub-attribute name"
            )
        sub = attribute.sub.get(node.path.attr.lower())
        if sub is None:
            raise errors.InvalidFilter(f"{attribute.name} has no sub-attribute {node.path.attr!r}")
        return self.leaf(node, sub, _child(element, sub))

    def exists(self, urn: str | None, attribute: Attribute, condition: Any) -> str:
        membership = MEMBERSHIP.get((self.type.name, attribute.name.lower()))
        if membership is not None:
            column = MEMBERSHIP_VALUE[(self.type.name, attribute.name.lower())]
            cond = condition(f"@member:{column}")
            return f"EXISTS ({membership.format(table=self.table, cond=cond)})"
        path = self.bind(_json_path(urn, attribute))
        cond = condition("@element")
        return f"EXISTS (SELECT 1 FROM json_each({self.table}.resource, {path}) e WHERE {cond})"

    def leaf(
        self, node: Compare | Present, attribute: Attribute, expr: str, folded: bool = False
    ) -> str:
        expr = self.element_expression(expr)
        if isinstance(node, Present):
            if attribute.type == "string":
                return f"coalesce({expr} <> '', 0)"
            return f"{expr} IS NOT NULL"
        value = _check_value(node, attribute)
        # Membership values are ids, compared exactly so the membership index serves them.
        fold = attribute.type in ("string", "reference") and not attribute.case_exact
        fold = fold and not expr.startswith("gm.")
        if fold and not folded:
            expr = f"casefold({expr})"
        if value is None:
            return f"{expr} IS NULL" if node.op == "eq" else f"{expr} IS NOT NULL"
        if fold and isinstance(value, str):
            value = value.casefold()
        if isinstance(value, bool):
            value = int(value)
        return OPERATORS[node.op].format(x=expr, v=self.bind(value))

    def element_expression(self, expr: str) -> str:
        # "@element[/sub]" is a json_each row or a sub-attribute of it; "@member:col[/sub]" a
        # membership row, which holds only the member's id (`value`).
        marker, _, sub = expr.partition("/")
        if marker.startswith("@member:"):
            if sub not in ("", "value"):
                raise errors.InvalidFilter(f"membership can be filtered by value only, not {sub!r}")
            return marker.removeprefix("@member:")
        if marker == "@element":
            if not sub:
                return "e.value"
            return f"json_extract(e.value, {self.bind('$.' + _quote(sub))})"
        return expr


def _column(
    resource_type: ResourceType, urn: str | None, attribute: Attribute, sub: Attribute | None
) -> tuple[str, bool] | None:
    """The indexed column standing in for a core attribute, if there is one (COLUMNS)."""
    if urn is not None:
        return None
    key = str(AttrPath(attribute.name, sub.name if sub else None)).lower()
    return COLUMNS.get((resource_type.name, key))


def _is_text_equality(node: Compare | Present) -> bool:
    return isinstance(node, Compare) and node.op == "eq" and isinstance(node.value, str)


def _child(element: str, sub: Attribute | None) -> str:
    return f"{element}/{sub.name}" if sub is not None else element


def _check_value(node: Compare, attribute: Attribute) -> Any:
    value, kind = node.value, attribute.type
    if value is None:
        if node.op not in ("eq", "ne"):
            raise errors.InvalidFilter(f"{node.op} cannot compare with null in {node}")
        return None
    if kind == "boolean":
        if not isinstance(value, bool) or node.op not in ("eq", "ne"):
            raise errors.InvalidFilter(
                f"{node.path} is a boolean: use eq/ne true or false in {node}"
            )
    elif kind in ("integer", "decimal"):
        if isinstance(value, bool) or not isinstance(value, int | float) or node.op in SUBSTRING:
            raise errors.InvalidFilter(f"{node.path} is a number: {node} does not compare numbers")
    elif kind == "complex":
        raise errors.InvalidFilter(f"{node.path} is complex; compare one of its sub-attributes")
    elif not isinstance(value, str):
        raise errors.InvalidFilter(f"{node.path} holds text: quote the value in {node}")
    elif kind == "binary" and node.op in ORDERING:
        raise errors.InvalidFilter(f"{node.path} is binary and cannot be ordered")
    elif kind == "dateTime":
        if node.op in SUBSTRING:
            raise errors.InvalidFilter(f"{node.path} is a dateTime: {node.op} does not apply")
        return datetime_literal(value)
    return value


def _quote(name: str) -> str:
    return f'"{name}"' if not name.replace("_", "").isalnum() else name


def _json_path(urn: str | None, attribute: Attribute, sub: Attribute | None = None) -> str:
    path = "$." + (f'"{urn}".' if urn else "") + _quote(attribute.name)
    return path + "." + _quote(sub.name) if sub else path


def compile_filter(resource_type: ResourceType, node: Node | None, table: str) -> Compiled:
    """A WHERE clause selecting the resources of `table` that match `node` (all when None)."""
    if node is None:
        return Compiled(None)
    compiler = _Compiler(resource_type, table)
    sql = compiler.node(node)
    return Compiled(sql, compiler.params)


def compile_sort(
    resource_type: ResourceType,
    sort_by: str | None,
    order: str | None,
    table: str,
    params: dict[str, Any],
) -> str | None:
    """ORDER BY for `sortBy`/`sortOrder` (RFC 7644 §3.4.2.3); ties broken by creation order.

    None means no sortBy: creation order.
    """
    if not sort_by:
        return None
    path = parse_path(sort_by)
    resolved = resource_type.resolve(path)
    if resolved is None:
        raise errors.InvalidValue(f"cannot sort by unknown attribute {sort_by!r}")
    urn, attribute, sub = resolved
    compiler = _Compiler(resource_type, table)
    compiler.params = params  # share the numbering with the WHERE clause
    target = sub or attribute
    folded = False
    if attribute.multi_valued:
        # RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its primary value.
        value = sub.name if sub else "value"
        expr = (
            f"(SELECT json_extract(e.value, {compiler.bind('$.' + _quote(value))}) FROM json_each("
            f"{table}.resource, {compiler.bind(_json_path(urn, attribute))}) e"
            " ORDER BY json_extract(e.value, '$.primary') IS NOT 1 LIMIT 1)"
        )
        target = attribute.sub.get(value.lower(), target)
    elif attribute.type == "complex" and sub is None:
        raise errors.InvalidValue(f"cannot sort by complex attribute {sort_by!r}")
    else:
        column = _column(resource_type, urn, attribute, sub)
        if column is not None:
            expr, folded = f"{table}.{column[0]}", column[1]
        else:
            expr = (
                f"json_extract({table}.resource, {compiler.bind(_json_path(urn, attribute, sub))})"
            )
    if target.type in ("string", "reference") and not target.case_exact and not folded:
        expr = f"casefold({expr})"
    direction = "DESC" if order == "descending" else "ASC"
    # Resources without the attribute sort last either way (RFC 7644 §3.4.2.3).
    return f"({expr}) IS NULL, {expr} {direction}, {table}.seq"
