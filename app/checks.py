"""Check a parsed filter against a resource type: the step between parsing and compiling.

`check()` resolves every attribute path against the schemas, applies the rules of RFC 7644
§3.4.2.2 per attribute type (which operators apply, what a value must look like, `caseExact`)
and returns a checked tree. The SQL compiler (app/query.py) and the reference evaluator
(app/evaluate.py) both walk that tree, so the two never disagree on what a filter means or
on which filters are invalid. Every problem is `invalidFilter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app import errors
from app.filters import And, AttrPath, Compare, Node, Not, Or, Present, ValuePath, datetime_literal
from app.resources import Attribute, ResourceType

ORDERING = frozenset({"gt", "ge", "lt", "le"})
SUBSTRING = frozenset({"co", "sw", "ew"})
# meta sub-attributes a filter may name: two columns, and the resource type (RFC 7644 §3.4.2.1
# filters a root query by it). location and version are computed and cannot be filtered.
FILTERABLE_META = frozenset({"created", "lastModified", "resourceType"})
SCHEMAS = Attribute("schemas", "reference", multi_valued=True)


@dataclass(frozen=True)
class Term:
    """`attr op value` or `attr pr`, resolved: `sub` is what is compared when given.

    For a multi-valued complex attribute compared without a sub-attribute, `sub` is its
    `value` (RFC 7644 §3.4.2.2); `pr` on it asks whether it has any value, so `sub` stays None.
    """

    node: Compare | Present
    urn: str | None
    attribute: Attribute
    sub: Attribute | None
    value: Any  # the literal, in stored form (dateTime normalised); None for `pr`

    @property
    def op(self) -> str:
        """The operator: eq, ne, co, sw, ew, gt, ge, lt, le or pr."""
        return self.node.op if isinstance(self.node, Compare) else "pr"

    @property
    def compared(self) -> Attribute:
        """The attribute whose type and caseExact decide the comparison."""
        return self.sub or self.attribute

    @property
    def folds(self) -> bool:
        """Whether text compares casefolded (caseExact false, RFC 7643 §2.2)."""
        compared = self.compared
        return compared.type in ("string", "reference") and not compared.case_exact


@dataclass(frozen=True)
class Schemas:
    """A term on `schemas`, which is not stored: the resource's schema URNs are compared."""

    node: Compare | Present


@dataclass(frozen=True)
class Within:
    """`attr[filter]`: some value of a multi-valued complex attribute matches `filter`, whose
    terms name sub-attributes of `attribute`."""

    urn: str | None
    attribute: Attribute
    filter: Checked


@dataclass(frozen=True)
class Both:
    """`left and right`."""

    left: Checked
    right: Checked


@dataclass(frozen=True)
class Either:
    """`left or right`."""

    left: Checked
    right: Checked


@dataclass(frozen=True)
class Negated:
    """`not (expr)`."""

    expr: Checked


Checked = Term | Schemas | Within | Both | Either | Negated


def check(resource_type: ResourceType, node: Node) -> Checked:
    """A checked tree for a filter on resources of this type (else invalidFilter)."""
    return _logic(node, lambda leaf: _resource_term(resource_type, leaf))


def check_within(attribute: Attribute, node: Node) -> Checked:
    """A checked tree for the filter of `attribute[filter]` (a PATCH path's, or a search's)."""
    return _logic(node, lambda leaf: _element_term(attribute, leaf))


def _logic(node: Node, leaf: Any) -> Checked:
    if isinstance(node, And):
        return Both(_logic(node.left, leaf), _logic(node.right, leaf))
    if isinstance(node, Or):
        return Either(_logic(node.left, leaf), _logic(node.right, leaf))
    if isinstance(node, Not):
        return Negated(_logic(node.expr, leaf))
    checked: Checked = leaf(node)
    return checked


def resolve(
    resource_type: ResourceType, path: AttrPath
) -> tuple[str | None, Attribute, Attribute | None]:
    """(extension URN or None, attribute, sub-attribute) named by a path, else invalidFilter.

    An attribute that is never returned (`password`, a declared writeOnly one) cannot be
    filtered either: matches would tell what it holds.
    """
    resolved = resource_type.resolve(path)
    if resolved is None:
        raise errors.InvalidFilter(
            f"attribute {str(path)!r} cannot be filtered on {resource_type.name}s"
        )
    _, attribute, sub = resolved
    if "never" in (attribute.returned, sub.returned if sub else None):
        raise errors.InvalidFilter(f"{path} is never returned and cannot be filtered")
    return resolved


def _resource_term(resource_type: ResourceType, node: Compare | Present | ValuePath) -> Checked:
    if node.path == AttrPath(node.path.attr) and node.path.attr.lower() == "schemas":
        if isinstance(node, ValuePath):
            raise errors.InvalidFilter("schemas takes no value filter")
        if isinstance(node, Compare):
            value(node, SCHEMAS)
        return Schemas(node)
    urn, attribute, sub = resolve(resource_type, node.path)
    if isinstance(node, ValuePath):
        if not attribute.multi_valued or attribute.type != "complex" or sub is not None:
            raise errors.InvalidFilter(f"{node.path}[...] needs a multi-valued complex attribute")
        return Within(urn, attribute, check_within(attribute, node.filter))
    if (
        urn is None
        and attribute.name == "meta"
        and (sub is None or sub.name not in FILTERABLE_META)
    ):
        raise errors.InvalidFilter(
            f"{node.path} cannot be filtered; use meta.created, meta.lastModified or"
            " meta.resourceType"
        )
    if attribute.multi_valued and sub is None and attribute.type == "complex":
        sub = attribute.sub.get("value") if isinstance(node, Compare) else None
    elif attribute.type == "complex" and sub is None and isinstance(node, Compare):
        # `manager eq "<id>"` means manager.value (Entra checks a manager that way).
        sub = attribute.sub.get("value")
        if sub is None:
            raise errors.InvalidFilter(f"{node.path} is complex; compare one of its sub-attributes")
    compared = sub or attribute
    literal = value(node, compared) if isinstance(node, Compare) else None
    return Term(node, urn, attribute, sub, literal)


def _element_term(attribute: Attribute, node: Compare | Present | ValuePath) -> Term:
    if isinstance(node, ValuePath):
        raise errors.InvalidFilter("value paths cannot be nested")
    if node.path.urn or node.path.sub:
        raise errors.InvalidFilter(
            f"{node.path} inside {attribute.name}[...] must be a sub-attribute name"
        )
    sub = attribute.sub.get(node.path.attr.lower())
    if sub is None:
        raise errors.InvalidFilter(f"{attribute.name} has no sub-attribute {node.path.attr!r}")
    if sub.returned == "never":
        raise errors.InvalidFilter(f"{node.path} is never returned and cannot be filtered")
    literal = value(node, sub) if isinstance(node, Compare) else None
    return Term(node, None, attribute, sub, literal)


def value(node: Compare, attribute: Attribute) -> Any:
    """The literal of a comparison, if its operator and type suit the attribute's type."""
    literal, kind = node.value, attribute.type
    if literal is None:
        if node.op not in ("eq", "ne"):
            raise errors.InvalidFilter(f"{node.op} cannot compare with null in {node}")
        return None
    if kind == "boolean":
        if not isinstance(literal, bool) or node.op not in ("eq", "ne"):
            raise errors.InvalidFilter(
                f"{node.path} is a boolean: use eq/ne true or false in {node}"
            )
    elif kind in ("integer", "decimal"):
        if (
            isinstance(literal, bool)
            or not isinstance(literal, int | float)
            or node.op in SUBSTRING
        ):
            raise errors.InvalidFilter(f"{node.path} is a number: {node} does not compare numbers")
    elif kind == "complex":
        raise errors.InvalidFilter(f"{node.path} is complex; compare one of its sub-attributes")
    elif not isinstance(literal, str):
        raise errors.InvalidFilter(f"{node.path} holds text: quote the value in {node}")
    elif kind == "binary" and node.op in ORDERING:
        raise errors.InvalidFilter(f"{node.path} is binary and cannot be ordered")
    elif kind == "dateTime":
        if node.op in SUBSTRING:
            raise errors.InvalidFilter(f"{node.path} is a dateTime: {node.op} does not apply")
        return datetime_literal(literal)
    return literal
