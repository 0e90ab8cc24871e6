"""The SQL that differs between SQLite and PostgreSQL, one method per concern.

The store, the filter compiler (app/query.py) and the declared indexes (app/indexes.py) write
one statement for both backends and ask `current()` for the fragments that differ: how a JSON
value is read out of a resource, how text is folded for a caseExact-false comparison, the
operators' SQL, true and false, planner hints. `SQLITE` returns exactly the SQL this server
always ran on SQLite; `POSTGRES` the same meaning over `json`, through the small SQL functions
the PostgreSQL schema defines (app/pg_schema.py: scim_text, scim_number, scim_bool,
scim_json, scim_elements).

Known differences on PostgreSQL (README.md, "Several hosts"): PostgreSQL has no casefold(), so
a caseExact-false comparison of an attribute that has no folded column (everything but
userName, displayName and emails.value, which the app stores casefolded) compares lower()
of both sides, and lower() follows the database's LC_CTYPE; text ordering (sortBy, gt/lt on
strings) follows the database's collation, which matches SQLite's code-point order for a
database created with the C or C.UTF-8 collation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from app import config

_SQLITE_OPERATORS: dict[str, str] = {
    "eq": "{x} = {v}",
    "ne": "({x} IS NULL OR {x} <> {v})",
    "co": "instr({x}, {v}) > 0",
    "sw": "substr({x}, 1, length({v})) = {v}",
    # Not substr(x, -length(v)): for v = "" that is substr(x, 0), the whole of x.
    "ew": "substr({x}, length({x}) - length({v}) + 1) = {v}",
    "gt": "{x} > {v}",
    "ge": "{x} >= {v}",
    "lt": "{x} < {v}",
    "le": "{x} <= {v}",
}


def kind_of(attribute_type: str) -> str:
    """How a JSON value of a SCIM attribute type is compared: text, number, boolean or json."""
    if attribute_type in ("integer", "decimal"):
        return "number"
    if attribute_type == "boolean":
        return "boolean"
    if attribute_type == "complex":
        return "json"
    return "text"  # string, reference, binary, dateTime (RFC 3339 text)


def _quote(name: str) -> str:
    return name if name.replace("_", "").isalnum() else f'"{name}"'


class SQLite:
    """SQLite's SQL, as the server has always written it."""

    name = "sqlite"
    true, false = "1", "0"
    operators: ClassVar[dict[str, str]] = _SQLITE_OPERATORS

    def path(self, parts: Sequence[str]) -> Any:
        """The bound value that names a JSON path: `$.a.b` (a URN part in double quotes)."""
        return "$." + ".".join(f'"{p}"' if ":" in p else _quote(p) for p in parts)

    def path_literal(self, parts: Sequence[str]) -> str:
        """The same path written into SQL (index expressions; names are checked by
        app/extensions.py to letters, digits, `.`, `-`, `_`, `:`)."""
        return f"'{self.path(parts)}'"

    def scalar(self, container: str, path: str | None, kind: str) -> str:
        """The SQL value at `path` (a bound placeholder or literal) in a JSON container;
        `path` None: the container itself (an element of a multi-valued attribute)."""
        return container if path is None else f"json_extract({container}, {path})"

    def elements(self, container: str, path: str) -> str:
        """A FROM item `e` over the values of a multi-valued attribute, `e.value` each."""
        return f"json_each({container}, {path}) e"

    def first_primary(self) -> str:
        """ORDER BY of `elements` that puts the primary value first, then array order."""
        return "json_extract(e.value, '$.primary') IS NOT 1"

    def keys(self, column: str) -> str:
        """A FROM item `k` over the top-level keys of a resource, `k.key` each."""
        return f"json_each({column}) k"

    def fold(self, expr: str) -> str:
        """Text folded for a caseExact-false comparison."""
        return f"casefold({expr})"

    def fold_value(self, value: str) -> str:
        """A bound value folded as `fold` folds the column side."""
        return value.casefold()

    def bool_value(self, value: bool) -> Any:
        """A bound boolean, as JSON booleans read."""
        return int(value)

    def indexed_by(self, index: str) -> str:
        """A planner hint naming the index a statement must use."""
        return f" INDEXED BY {index}"

    def attribute_key(self, name: str) -> str:
        """The bound operand of `resource -> ?` for one top-level attribute."""
        return f"$.{name}"

    def distinct(self) -> str:
        """`a IS DISTINCT FROM b`'s operator."""
        return "IS NOT"


class Postgres(SQLite):
    """PostgreSQL's SQL over `json` resources (app/pg_schema.py)."""

    name = "postgres"
    true, false = "TRUE", "FALSE"
    operators: ClassVar[dict[str, str]] = {
        **_SQLITE_OPERATORS,
        "co": "strpos({x}, {v}) > 0",
        "ew": "right({x}, length({v})) = {v}",
    }

    def path(self, parts: Sequence[str]) -> Any:
        """A text[] of the path's keys."""
        return list(parts)

    def path_literal(self, parts: Sequence[str]) -> str:
        """The text[] written into SQL (index expressions)."""
        inner = ",".join(f'"{p}"' for p in parts)
        return f"'{{{inner}}}'"

    _TYPED: ClassVar[dict[str, str]] = {
        "text": "scim_text",
        "number": "scim_number",
        "boolean": "scim_bool",
        "json": "scim_json",
    }

    def scalar(self, container: str, path: str | None, kind: str) -> str:
        """The SQL value of the JSON value, NULL when it is of another JSON type (SQLite's
        json_extract returns the other type's value, which compares unequal to the bound one)."""
        value = container if path is None else f"({container} #> {path})"
        return f"{self._TYPED[kind]}({value})"

    def elements(self, container: str, path: str) -> str:
        """Elements of an array, with their position `e.n`; a scalar counts as one element."""
        return f"scim_elements({container} #> {path}) e"

    def first_primary(self) -> str:
        """The primary element first, then array order."""
        return "scim_bool(e.value -> 'primary') IS NOT TRUE, e.n"

    def keys(self, column: str) -> str:
        """The resource's top-level keys."""
        return f"json_object_keys({column}) k(key)"

    def fold(self, expr: str) -> str:
        """lower(): PostgreSQL has no casefold() (see the module's docstring)."""
        return f"lower({expr})"

    def fold_value(self, value: str) -> str:
        """Python's lower(), as PostgreSQL's lower() folds the column side."""
        return value.lower()

    def bool_value(self, value: bool) -> Any:
        """A bound boolean, compared with scim_bool()."""
        return value

    def indexed_by(self, index: str) -> str:
        """No hint: PostgreSQL's planner picks the partial index on its own."""
        return ""

    def attribute_key(self, name: str) -> str:
        """`resource -> 'name'` for json."""
        return name

    def distinct(self) -> str:
        """PostgreSQL's spelling."""
        return "IS DISTINCT FROM"


SQLITE = SQLite()
POSTGRES = Postgres()


def current() -> SQLite:
    """The dialect of the database in the settings (SCIM_DB)."""
    return POSTGRES if config.is_postgres(config.get().db_path) else SQLITE
