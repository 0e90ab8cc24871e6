"""The reference evaluator: does a SCIM resource (a dict, as clients see it) match a filter?

Plain Python over the checked tree of app/checks.py, with the meaning the SQL compiler
(app/query.py) gives it: string comparisons honour `caseExact` (casefold), a comparison with a
missing value is false (`ne` is true), a multi-valued attribute matches when any of its values
does. The property test in tests/test_query_property.py holds the SQL to this; PATCH value
paths (`emails[type eq "work"]`) and member filters use it directly.
"""

from __future__ import annotations

from typing import Any

from app import checks
from app.checks import SCHEMAS, Both, Checked, Either, Negated, Schemas, Term, Within
from app.filters import Compare, Node, Present
from app.resources import Attribute, ResourceType


def matches(node: Node, resource: dict[str, Any], resource_type: ResourceType) -> bool:
    """Whether a whole resource matches a filter (invalidFilter if the filter is not valid)."""
    return resource_matches(checks.check(resource_type, node), resource)


def resource_matches(checked: Checked, resource: dict[str, Any]) -> bool:
    """Whether a whole resource matches a checked filter."""
    if isinstance(checked, Both):
        return resource_matches(checked.left, resource) and resource_matches(
            checked.right, resource
        )
    if isinstance(checked, Either):
        return resource_matches(checked.left, resource) or resource_matches(checked.right, resource)
    if isinstance(checked, Negated):
        return not resource_matches(checked.expr, resource)
    if isinstance(checked, Schemas):
        return any(leaf(checked.node, urn, SCHEMAS) for urn in resource.get("schemas", []))
    container = resource.get(checked.urn, {}) if checked.urn else resource
    value = _get(container, checked.attribute.name)
    if isinstance(checked, Within):
        return any(element_matches(checked.filter, v) for v in _values(value))
    return _term(checked, value)


def _term(term: Term, value: Any) -> bool:
    if term.attribute.multi_valued:
        if term.sub is None:
            # The values themselves: strings of a multi-valued string attribute (a declared
            # `skills`), or the objects of a complex one (`emails pr`).
            return any(_leaf(term, v) for v in _values(value))
        sub = term.sub
        return any(_leaf(term, _get(v, sub.name)) for v in _values(value) if isinstance(v, dict))
    if term.sub is not None:
        value = _get(value, term.sub.name) if isinstance(value, dict) else None
    return _leaf(term, value)


def element_matches(checked: Checked, element: Any) -> bool:
    """Whether one value of a multi-valued complex attribute matches the checked filter of
    `attribute[filter]` (checks.check_within)."""
    if isinstance(checked, Both):
        return element_matches(checked.left, element) and element_matches(checked.right, element)
    if isinstance(checked, Either):
        return element_matches(checked.left, element) or element_matches(checked.right, element)
    if isinstance(checked, Negated):
        return not element_matches(checked.expr, element)
    assert isinstance(checked, Term) and checked.sub is not None
    return _leaf(checked, _get(element, checked.sub.name) if isinstance(element, dict) else None)


def _leaf(term: Term, actual: Any) -> bool:
    if term.op == "pr":
        return actual != "" if isinstance(actual, str) else actual is not None
    return compare(term.op, actual, term.value, term.compared)


def leaf(node: Compare | Present, actual: Any, attribute: Attribute) -> bool:
    """`pr` or one comparison against a single value (the literal as written)."""
    if isinstance(node, Present):
        return actual != "" if isinstance(actual, str) else actual is not None
    return compare(node.op, actual, node.value, attribute)


def compare(op: str, actual: Any, expected: Any, attribute: Attribute) -> bool:
    """One comparison with SCIM semantics (caseExact honoured; missing values never match)."""
    if expected is None:
        return (actual is None) == (op == "eq")
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
