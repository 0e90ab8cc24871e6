"""SCIM filter text to AST (RFC 7644 §3.4.2.2, Figure 1), and the AST back to canonical text.

Grammar, loosest binding first:
    filter  = term *("or" term)
    term    = factor *("and" factor)
    factor  = "not" "(" filter ")" / "(" filter ")" / attrPath "[" filter "]" / attrExp
    attrExp = attrPath "pr" / attrPath compareOp compValue
Keywords, operators and attribute names are case-insensitive.

A filter is at most MAX_DEPTH levels deep (invalidFilter beyond): the parser, the SQL compiler
(app/query.py), the evaluator (app/evaluate.py) and `str()` recurse once per level, and SQLite's
own parser refuses SQL nested much deeper ("parser stack overflow": 22 levels of the
`NOT coalesce(...)` that `not (...)` compiles to). Levels are counted twice, both within the
limit: brackets (`( )`, `not ( )`, `[ ]`) as written, and operators (`and`, `or`, `not`, `[ ]`)
above a comparison in the AST. A chain `a and b and c and d` is built balanced,
`(a and b) and (c and d)`, so that n operands take about log2(n) levels.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app import errors

COMPARE_OPS = ("eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le")
MAX_DEPTH = 16  # README.md, "Limits"


@dataclass(frozen=True)
class AttrPath:
    """`[urn:]attr[.sub]`, e.g. `name.familyName` or `urn:...:User:manager.value`."""

    attr: str
    sub: str | None = None
    urn: str | None = None

    def __str__(self) -> str:
        text = f"{self.urn}:{self.attr}" if self.urn else self.attr
        return f"{text}.{self.sub}" if self.sub else text


@dataclass(frozen=True)
class Compare:
    path: AttrPath
    op: str
    value: Any  # str, bool, None, int or float

    def __str__(self) -> str:
        return f"{self.path} {self.op} {json.dumps(self.value)}"


@dataclass(frozen=True)
class Present:
    path: AttrPath

    def __str__(self) -> str:
        return f"{self.path} pr"


@dataclass(frozen=True)
class And:
    left: Node
    right: Node

    def __str__(self) -> str:
        return f"{_wrap(self.left, Or)} and {_wrap(self.right, Or)}"


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node

    def __str__(self) -> str:
        return f"{self.left} or {self.right}"


@dataclass(frozen=True)
class Not:
    expr: Node

    def __str__(self) -> str:
        return f"not ({self.expr})"


@dataclass(frozen=True)
class ValuePath:
    """`attr[filter]`: values of a multi-valued attribute that match the inner filter."""

    path: AttrPath
    filter: Node

    def __str__(self) -> str:
        return f"{self.path}[{self.filter}]"


Node = Compare | Present | And | Or | Not | ValuePath


def _wrap(node: Node, loose: type) -> str:
    return f"({node})" if isinstance(node, loose) else str(node)


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w:.$-]))
    | (?P<punct>[()\[\]])
    | (?P<sub>\.[A-Za-z$][\w$-]*)
    | (?P<word>[A-Za-z_$][\w:.$-]*)
    )""",
    re.VERBOSE,
)

_ATTR_NAME = re.compile(r"^\$?[A-Za-z][\w-]*$")


def datetime_literal(text: str) -> str:
    """A dateTime literal in the stored form (UTC, milliseconds, Z): text order is time order."""
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        stamp = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    except (ValueError, OverflowError) as exc:  # year 9999 at -23:59 overflows in UTC
        raise errors.InvalidFilter(
            f"{text!r} is not a dateTime (RFC 3339, e.g. 2011-05-13T04:42:34Z)"
        ) from exc
    return stamp.replace("+00:00", "Z")


def parse_path(text: str) -> AttrPath:
    """`name.givenName` or `urn:...:2.0:User:manager.value` to an AttrPath (else invalidFilter)."""
    urn = None
    rest = text
    if text.lower().startswith("urn:"):
        urn, sep, rest = text.rpartition(":")
        if not sep or not urn or ":" not in urn[4:]:
            raise errors.InvalidFilter(f"{text!r} is not an attribute path")
    attr, _, sub = rest.partition(".")
    if not _ATTR_NAME.match(attr) or (sub and not _ATTR_NAME.match(sub)):
        raise errors.InvalidFilter(f"{text!r} is not an attribute path")
    return AttrPath(attr, sub or None, urn)


def parse(text: str) -> Node:
    """Parse filter text into an AST; any syntax problem raises InvalidFilter."""
    parser = _Parser(_tokenize(text), text)
    node = parser.filter()
    left = parser.peek()
    if left is not None:
        raise errors.InvalidFilter(f"unexpected {left[1]!r} in filter {text!r}")
    if depth(node) > MAX_DEPTH:
        raise errors.InvalidFilter(f"filter nests operators deeper than {MAX_DEPTH} levels")
    return node


def depth(node: Node) -> int:
    """How many operators (and, or, not, value path) stand above the deepest comparison."""
    deepest = 0
    pending: list[tuple[Node, int]] = [(node, 0)]
    while pending:
        current, level = pending.pop()
        deepest = max(deepest, level)
        if isinstance(current, And | Or):
            pending += [(current.left, level + 1), (current.right, level + 1)]
        elif isinstance(current, Not):
            pending.append((current.expr, level + 1))
        elif isinstance(current, ValuePath):
            pending.append((current.filter, level + 1))
    return deepest


def _balanced(kind: type[And] | type[Or], operands: list[Node]) -> Node:
    """`a op b op c op d` as `(a op b) op (c op d)`: the same filter, log2(n) levels deep."""
    while len(operands) > 1:
        pairs = [operands[i : i + 2] for i in range(0, len(operands), 2)]
        operands = [kind(pair[0], pair[1]) if len(pair) == 2 else pair[0] for pair in pairs]
    return operands[0]


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise errors.InvalidFilter(f"cannot read filter {text!r} at position {position}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.tokens, self.text, self.index = tokens, text, 0
        self.depth = 0

    def nested(self, close: str) -> Node:
        """The filter inside an opening bracket just taken, up to its `close`."""
        if self.depth == MAX_DEPTH:
            raise errors.InvalidFilter(f"filter nests brackets deeper than {MAX_DEPTH} levels")
        self.depth += 1
        inner = self.filter()
        self.expect(close)
        self.depth -= 1
        return inner

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise errors.InvalidFilter(f"filter {self.text!r} ends too early")
        self.index += 1
        return token

    def expect(self, value: str) -> None:
        _, got = self.take()
        if got != value:
            raise errors.InvalidFilter(f"expected {value!r} but found {got!r} in {self.text!r}")

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() in words:
            self.index += 1
            return token[1].lower()
        return None

    def filter(self) -> Node:
        terms = [self.term()]
        while self.keyword("or"):
            terms.append(self.term())
        return _balanced(Or, terms)

    def term(self) -> Node:
        factors = [self.factor()]
        while self.keyword("and"):
            factors.append(self.factor())
        return _balanced(And, factors)

    def factor(self) -> Node:
        token = self.peek()
        if token == ("punct", "("):
            self.take()
            return self.nested(")")
        after = self.tokens[self.index + 1] if self.index + 1 < len(self.tokens) else None
        if token and token[0] == "word" and token[1].lower() == "not" and after == ("punct", "("):
            self.take()
            self.take()
            return Not(self.nested(")"))
        return self.attr_expression()

    def attr_expression(self) -> Node:
        kind, text = self.take()
        if kind != "word":
            raise errors.InvalidFilter(
                f"expected an attribute name, found {text!r} in {self.text!r}"
            )
        path = parse_path(text)
        if self.peek() == ("punct", "["):
            self.take()
            inner = self.nested("]")
            token = self.peek()
            if token is not None and token[0] == "sub":
                # `emails[type eq "work"].value eq "x"`: Entra's matching filter, not in the
                # RFC grammar but unambiguous; it means emails[type eq "work" and value eq "x"].
                self.take()
                leaf = self.comparison(AttrPath(token[1][1:]), f"{text}[...]{token[1]}")
                return ValuePath(path, And(inner, leaf))
            return ValuePath(path, inner)
        return self.comparison(path, text)

    def comparison(self, path: AttrPath, text: str) -> Compare | Present:
        op = self.keyword("pr", *COMPARE_OPS)
        if op is None:
            found = self.peek()
            shown = found[1] if found else "the end"
            raise errors.InvalidFilter(f"expected an operator after {text!r}, found {shown!r}")
        if op == "pr":
            return Present(path)
        return Compare(path, op, self.value())

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            try:
                return json.loads(text)
            except ValueError as exc:
                raise errors.InvalidFilter(f"bad string {text} in filter") from exc
        if kind == "number":
            return json.loads(text)
        lowered = text.lower()
        if kind == "word" and lowered in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[lowered]
        raise errors.InvalidFilter(
            f"{text!r} is not a value (use a quoted string) in {self.text!r}"
        )
