"""A checked filter and a sort to one parameterised SQL query (RFC 7644 §3.4.2.2, §3.4.2.3).

`compile()` returns the WHERE clause, the ORDER BY and their bound parameters together.
Values and JSON paths are always bound parameters; table and column names come only from
the storage map (app/tables.py). String comparisons honour each attribute's `caseExact`:
case-insensitive ones compare `casefold()`ed text on both sides (SQLite's NOCASE and lower()
fold ASCII only). What differs between SQLite and PostgreSQL comes from app/dialect.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app import checks, dialect, errors, indexes
from app.checks import Both, Checked, Either, Negated, Schemas, Term, Within
from app.evaluate import leaf, resource_matches
from app.filters import AttrPath, Compare, Node, parse_path
from app.resources import Attribute, ResourceType
from app.tables import MEMBERS_TABLE, Column

# Operator -> SQL template over an expression {x} and a bound value {v} (per dialect).
OPERATORS: dict[str, str] = dialect.SQLITE.operators

# Attribute types whose values are JSON strings (RFC 7643 §2.3).
TEXT_TYPES = frozenset({"string", "reference", "binary", "dateTime"})


@dataclass(frozen=True)
class Compiled:
    """WHERE (None: every row) and ORDER BY (None: creation order), with their parameters."""

    where: str | None
    order_by: str | None
    params: dict[str, Any]


@dataclass(frozen=True)
class Operand:
    """A SQL expression a term compares: `folded` if it holds casefold()ed text already,
    `exact` if it holds ids compared as stored (membership rows)."""

    sql: str
    folded: bool = False
    exact: bool = False


# Gives the operand for one value of a multi-valued attribute, or one of its sub-attributes.
Element = Callable[[Attribute | None], Operand]


def compile(
    resource_type: ResourceType,
    node: Node | None,
    sort_by: str | None = None,
    sort_order: str | None = None,
) -> Compiled:
    """The query for resources of this type matching `node` (all when None), sorted."""
    compiler = _Compiler(resource_type)
    where = compiler.where(checks.check(resource_type, node)) if node is not None else None
    order_by = compiler.order_by(sort_by, sort_order) if sort_by else None
    return Compiled(where, order_by, compiler.params)


class _Compiler:
    def __init__(self, resource_type: ResourceType) -> None:
        self.type, self.table = resource_type, resource_type.table
        self.params: dict[str, Any] = {}
        self.sql = dialect.current()

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def where(self, checked: Checked) -> str:
        if isinstance(checked, Both):
            return f"({self.where(checked.left)} AND {self.where(checked.right)})"
        if isinstance(checked, Either):
            return f"({self.where(checked.left)} OR {self.where(checked.right)})"
        if isinstance(checked, Negated):
            return f"NOT coalesce({self.where(checked.expr)}, {self.sql.false})"
        if isinstance(checked, Schemas):
            return self.schemas(checked)
        if isinstance(checked, Within):
            inner = checked.filter
            found = self.exists(checked, lambda element: self.element_filter(inner, element))
            indexed = None
            if checked.attribute.name.lower() not in self.table.memberships:
                indexed = next(filter(None, map(self.indexed, _conjuncts(inner))), None)
            # `emails[type eq "work" and value eq "x"]`: the value index narrows the rows the
            # EXISTS then checks (Entra matches users by work email this way).
            return f"({indexed} AND {found})" if indexed else found
        return self.term(checked)

    def indexed(self, term: Term) -> str | None:
        """`<table>.id IN (...)` when a value index answers `attr.value eq "text"`."""
        index = self.table.value_indexes.get(term.attribute.name.lower())
        if index is None or term.sub is None or term.sub.name != "value":
            return None
        if term.urn is not None or not _is_text_equality(term):
            return None
        value = term.value.casefold() if index.folded else term.value
        subquery = (
            f"SELECT {index.owner} FROM {index.table} WHERE {index.value} = {self.bind(value)}"
        )
        return f"{self.table.name}.id IN ({subquery})"

    def term(self, term: Term) -> str:
        attribute, sub = term.attribute, term.sub
        if term.urn is None and attribute.name == "meta" and sub and sub.name == "resourceType":
            # The same for every row of the table: decided here, as the evaluator decides it.
            matched = resource_matches(term, {"meta": {"resourceType": self.type.name}})
            return self.sql.true if matched else self.sql.false
        if attribute.multi_valued:
            return self.indexed(term) or self.exists(
                term, lambda element: self.leaf(term, element(sub))
            )
        if attribute.type == "complex" and sub is None:  # `pr` on a complex attribute
            return f"{self.json([*_urn(term.urn), attribute.name], 'json')} IS NOT NULL"
        column = self.column(term.urn, attribute, sub)
        if column is not None:
            operand = Operand(f"{self.table.name}.{column.name}", folded=column.folded)
        else:
            operand = Operand(self.declared(term.urn, attribute, sub))
        return self.leaf(term, operand)

    def declared(self, urn: str | None, attribute: Attribute, sub: Attribute | None) -> str:
        """The JSON value of an attribute; for a declared, indexed one (app/indexes.py) the
        index's own expression, its path written out, so that the planner uses the index."""
        if urn is not None and sub is None and indexes.indexed(self.type, urn, attribute):
            return indexes.expression(self.table.name, urn, attribute)
        parts = [*_urn(urn), attribute.name, *([sub.name] if sub else [])]
        return self.json(parts, dialect.kind_of((sub or attribute).type))

    def schemas(self, checked: Schemas) -> str:
        # `schemas` is not stored: the core schema is always there (decided here, in Python,
        # as the reference evaluator decides it), and an extension's URN is there when the
        # resource has an object under it, declared or not (resources.schemas_of).
        matched = leaf(checked.node, self.type.schema, checks.SCHEMAS)
        core = self.sql.true if matched else self.sql.false
        node = checked.node
        term = Term(
            node, None, checks.SCHEMAS, None, node.value if isinstance(node, Compare) else None
        )
        key = self.leaf(term, Operand("k.key"))
        return (
            f"({core} OR EXISTS (SELECT 1 FROM {self.sql.keys(self.table.name + '.resource')}"
            f" WHERE k.key LIKE 'urn:%' AND {key}))"
        )

    def element_filter(self, checked: Checked, element: Element) -> str:
        if isinstance(checked, Both | Either):
            joiner = " AND " if isinstance(checked, Both) else " OR "
            left = self.element_filter(checked.left, element)
            right = self.element_filter(checked.right, element)
            return f"({left}{joiner}{right})"
        if isinstance(checked, Negated):
            inner = self.element_filter(checked.expr, element)
            return f"NOT coalesce({inner}, {self.sql.false})"
        assert isinstance(checked, Term)
        return self.leaf(checked, element(checked.sub))

    def exists(self, target: Term | Within, condition: Callable[[Element], str]) -> str:
        """Some value of a multi-valued attribute meets `condition`."""
        name, table = target.attribute.name, self.table.name
        membership = self.table.memberships.get(name.lower())
        if membership is not None:

            def member(sub: Attribute | None) -> Operand:
                if sub is not None and sub.name != "value":
                    raise errors.InvalidFilter(
                        f"membership can be filtered by value only, not {sub.name!r}"
                    )
                return Operand(f"gm.{membership.other}", exact=True)

            return (
                f"EXISTS (SELECT 1 FROM {MEMBERS_TABLE} gm WHERE gm.{membership.own} = {table}.id"
                f" AND {condition(member)})"
            )

        def element(sub: Attribute | None) -> Operand:
            kind = dialect.kind_of((sub or target.attribute).type)
            if sub is None:
                return Operand(self.sql.scalar("e.value", None, kind))
            path = self.bind(self.sql.path([sub.name]))
            return Operand(self.sql.scalar("e.value", path, kind))

        path = self.bind(self.sql.path([*_urn(target.urn), target.attribute.name]))
        return (
            f"EXISTS (SELECT 1 FROM {self.sql.elements(table + '.resource', path)}"
            f" WHERE {condition(element)})"
        )

    def leaf(self, term: Term, operand: Operand) -> str:
        expr = operand.sql
        if term.op == "pr":
            # RFC 7644 §3.4.2.2: an empty string is no value, whatever the attribute's type
            # says its text is (a reference, binary, a dateTime), as app/evaluate.py has it.
            if term.compared.type in TEXT_TYPES:
                return f"coalesce({expr} <> '', {self.sql.false})"
            return f"{expr} IS NOT NULL"
        value = term.value
        # Membership values are ids, compared exactly so the membership index serves them.
        fold = term.folds and not operand.exact
        if fold and not operand.folded:
            expr = self.sql.fold(expr)
        if value is None:
            return f"{expr} IS NULL" if term.op == "eq" else f"{expr} IS NOT NULL"
        if fold and isinstance(value, str):
            # A folded column holds casefold()ed text; the dialect folds the others.
            value = value.casefold() if operand.folded else self.sql.fold_value(value)
        if isinstance(value, bool):
            value = self.sql.bool_value(value)
        return self.sql.operators[term.op].format(x=expr, v=self.bind(value))

    def order_by(self, sort_by: str, order: str | None) -> str:
        """ORDER BY for `sortBy`/`sortOrder` (RFC 7644 §3.4.2.3); ties by creation order."""
        resolved = self.type.resolve(parse_path(sort_by))
        if resolved is None:
            raise errors.InvalidValue(f"cannot sort by unknown attribute {sort_by!r}")
        urn, attribute, sub = resolved
        if "never" in (attribute.returned, sub.returned if sub else None):
            raise errors.InvalidValue(f"cannot sort by {sort_by!r}: it is never returned")
        table = self.table.name
        target = sub or attribute
        folded = False
        if attribute.multi_valued:
            # RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its primary value.
            value = sub.name if sub else "value"
            target = attribute.sub.get(value.lower(), target)
            scalar = self.sql.scalar(
                "e.value", self.bind(self.sql.path([value])), dialect.kind_of(target.type)
            )
            elements = self.sql.elements(
                f"{table}.resource", self.bind(self.sql.path([*_urn(urn), attribute.name]))
            )
            expr = f"(SELECT {scalar} FROM {elements} ORDER BY {self.sql.first_primary()} LIMIT 1)"
        elif attribute.type == "complex" and sub is None:
            raise errors.InvalidValue(f"cannot sort by complex attribute {sort_by!r}")
        else:
            column = self.column(urn, attribute, sub)
            if column is not None:
                expr, folded = f"{table}.{column.name}", column.folded
            else:
                expr = self.declared(urn, attribute, sub)
        if target.type in ("string", "reference") and not target.case_exact and not folded:
            expr = self.sql.fold(expr)
        direction = "DESC" if order == "descending" else "ASC"
        # Resources without the attribute sort last either way (RFC 7644 §3.4.2.3).
        return f"({expr}) IS NULL, {expr} {direction}, {table}.seq"

    def column(self, urn: str | None, attribute: Attribute, sub: Attribute | None) -> Column | None:
        """The indexed column standing in for a core attribute, if there is one."""
        if urn is not None:
            return None
        key = str(AttrPath(attribute.name, sub.name if sub else None)).lower()
        return self.table.columns.get(key)

    def json(self, parts: list[str], kind: str) -> str:
        path = self.bind(self.sql.path(parts))
        return self.sql.scalar(f"{self.table.name}.resource", path, kind)


def _conjuncts(checked: Checked) -> list[Term]:
    """The terms that must all hold for `checked` to hold (its top-level `and`s)."""
    if isinstance(checked, Both):
        return _conjuncts(checked.left) + _conjuncts(checked.right)
    return [checked] if isinstance(checked, Term) else []


def _is_text_equality(term: Term) -> bool:
    return term.op == "eq" and isinstance(term.value, str)


def _urn(urn: str | None) -> list[str]:
    return [urn] if urn else []
