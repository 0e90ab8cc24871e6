"""The reference evaluator: does a SCIM resource (a dict, as clients see it) match a filter?

Plain Python over the AST, with the same meaning the SQL compiler (app/query.py) gives it:
string comparisons honour `caseExact` (casefold), a comparison with a missing value is false
(`ne` is true), a multi-valued attribute matches when any of its values does, and a complex
multi-valued attribute compared without a sub-attribute compares its `value`. The property test
in tests/test_query_property.py holds the SQL to this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app import errors
from app.filters import And, AttrPath, Compare, Node, Not, Or, Present, ValuePath, datetime_literal
from app.resources import Attribute, ResourceType

Term = Compare | Present | ValuePath


def _logic(node: Node, term: Callable[[Term], bool]) -> bool:
    """and / or / not over the terms of a filter, each decided by `term`."""
    if isinstance(node, And):
        return _logic(node.left, term) and _logic(node.right, term)
    if isinstance(node, Or):
        return _logic(node.left, term) or _logic(node.right, term)
    if isinstance(node, Not):
        return not _logic(node.expr, term)
    return term(node)


def matches(node: Node, resource: dict[str, Any], resource_type: ResourceType) -> bool:
    """Whether a whole resource matches a filter (validated by the compiler first)."""
    return _logic(node, lambda term: _resource_term(term, resource, resource_type))


def element_matches(node: Node, element: Any, attribute: Attribute) -> bool:
    """Whether one value of a multi-valued complex attribute matches a value filter."""
    return _logic(node, lambda term: _element_term(term, element, attribute))


def _resource_term(node: Term, resource: dict[str, Any], resource_type: ResourceType) -> bool:
    if node.path == AttrPath(node.path.attr) and node.path.attr.lower() == "schemas":
        return _schemas(node, resource)
    resolved = resource_type.resolve(node.path)
    if resolved is None:
        raise errors.InvalidFilter(f"attribute {node.path} cannot be filtered")
    urn, attribute, sub = resolved
    container = resource.get(urn, {}) if urn else resource
    value = _get(container, attribute.name)
    if isinstance(node, ValuePath):
        return any(element_matches(node.filter, v, attribute) for v in _values(value))
    if attribute.multi_valued:
        if sub is None and attribute.type == "complex" and isinstance(node, Compare):
            sub = attribute.sub.get("value")
        if sub is None:
            return bool(_values(value)) if isinstance(node, Present) else False
        return any(
            leaf(node, _get(v, sub.name), sub) for v in _values(value) if isinstance(v, dict)
        )
    if sub is not None:
        value = _get(value, sub.name) if isinstance(value, dict) else None
    return leaf(node, value, sub or attribute)


def _element_term(node: Term, element: Any, attribute: Attribute) -> bool:
    if isinstance(node, ValuePath):
        raise errors.InvalidFilter("value paths cannot be nested")
    sub = attribute.sub.get(node.path.attr.lower())
    if sub is None or node.path.sub is not None or node.path.urn is not None:
        raise errors.InvalidFilter(f"{attribute.name} has no sub-attribute {node.path}")
    return leaf(node, _get(element, sub.name) if isinstance(element, dict) else None, sub)


def leaf(node: Compare | Present, actual: Any, attribute: Attribute) -> bool:
    """`pr` or one comparison against a single value."""
    if isinstance(node, Present):
        if isinstance(actual, str):
            return actual != ""
        return actual is not None
    return compare(node.op, actual, node.value, attribute)


def compare(op: str, actual: Any, expected: Any, attribute: Attribute) -> bool:
    """One comparison with SCIM semantics (caseExact honoured; missing values never match)."""
    if expected is None:
        return (actual is None) == (op == "eq")
    if attribute.type == "dateTime" and isinstance(expected, str):
        expected = datetime_literal(expected)
    if actual is None or isinstance(actual, dict | list):
        return op == "ne"
    if isinstance(actual, str) and isinstance(expected, str) and not attribute.case_exact:
        actual, expected = actual.casefold(), expected.casefold()
    if isinstance(expected, bool) or isinstance(actual, bool):
        actual, expected = _number(actual), _number(expected)
    if type(actual) is not type(expected) and not (_numeric(actual) and _numeric(expected)):
        return op == "ne"
    if op in ("co", "sw", "ew"):
        if not isinstance(actual, str):
            return False
        return {
            "co": expected in actual,
            "sw": actual.startswith(expected),
            "ew": actual.endswith(expected),
        }[op]
    return bool(
        {
            "eq": actual == expected,
            "ne": actual != expected,
            "gt": actual > expected,
            "ge": actual >= expected,
            "lt": actual < expected,
            "le": actual <= expected,
        }[op]
    )


SCHEMAS = Attribute("schemas", "reference", multi_valued=True)


def _schemas(node: Compare | Present | ValuePath, resource: dict[str, Any]) -> bool:
    if isinstance(node, ValuePath):
        raise errors.InvalidFilter("schemas takes no value filter")
    return any(leaf(node, urn, SCHEMAS) for urn in resource.get("schemas", []))


def _get(container: Any, name: str) -> Any:
    if not isinstance(container, dict):
        return None
    lowered = name.lower()
    return next((v for k, v in container.items() if k.lower() == lowered), None)


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
