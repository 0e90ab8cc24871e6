"""Bounds on what one request may make the server do, checked before anything parses it.

Every limit here is listed in README.md ("Limits") with the SCIM error a request beyond it gets.
A request within the limits takes the fast path of each check: a length or a count in C.
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any
from urllib.parse import unquote_to_bytes

from app import config, errors, spec

# A JSON string token (RFC 8259 §7): brackets inside one are text, not structure.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPENING, _CLOSING = b"[{", b"]}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# Opening brackets count +1, closing ones -1 (as signed bytes, see body_depth).
_SIGNS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def check_body(body: bytes) -> None:
    """A body nesting arrays and objects deeper than SCIM_MAX_JSON_DEPTH is invalidSyntax.

    Checked on the raw bytes before Connexion parses them: its validator uses the standard
    `json.loads`, which raises RecursionError near 1,000 levels, and jsonschema's walk over the
    parsed body recurses as deep again.
    """
    limit = config.get().max_json_depth
    if body_depth(body, limit) > limit:
        raise errors.InvalidSyntax(f"The request body nests arrays and objects deeper than {limit}")


def body_depth(body: bytes, limit: int) -> int:
    """The deepest nesting of `[`/`{` in JSON text; any value when it is at most `limit`.

    Fast path: a body with no more than `limit` opening brackets cannot nest deeper. Otherwise
    strings are dropped (a bracket inside one is text), every byte but brackets is dropped, and
    the running sum of +1/-1 is taken, all in C.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return 0
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    signs = memoryview(brackets.translate(_SIGNS)).cast("b")
    return max(accumulate(signs), default=0)


def check_query(query_string: bytes) -> None:
    """Query values must be UTF-8 once percent-decoded, and `filter` within its length.

    Starlette decodes a query with errors="replace", so `%FF` would reach the filter parser as
    U+FFFD and match nothing; RFC 7644 §3.4.2.2 filters are text, so such a filter is
    invalidFilter. The length limit is the spec's, checked here so the error names the filter
    (Connexion's own check answers with a message that does not name the parameter).
    """
    if query_string.isascii() and b"%" not in query_string and len(query_string) <= _FILTER_MAX:
        return
    for pair in query_string.split(b"&"):
        raw_name, _, raw_value = pair.partition(b"=")
        name = _decode(raw_name, "query parameter name")
        error: type[errors.ScimError] = (
            errors.InvalidFilter if name == "filter" else errors.InvalidValue
        )
        value = _decode(raw_value, f"query parameter {name!r}", error)
        if name == "filter" and len(value) > _FILTER_MAX:
            raise errors.InvalidFilter(f"filter is longer than {_FILTER_MAX} characters")


def _decode(raw: bytes, what: str, error: type[errors.ScimError] = errors.InvalidValue) -> str:
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} is not valid UTF-8 once percent-decoded") from exc


def check_patch(operations: list[dict[str, Any]]) -> None:
    """A PATCH carries at most SCIM_MAX_PATCH_VALUES values in its lists, all operations together.

    The spec bounds the number of operations; this bounds the members (or emails, ...) they add,
    remove or replace, each of which is a row to write while the write lock is held.
    """
    limit = config.get().max_patch_values
    total = 0
    for operation in operations:
        value = operation.get("value")
        if isinstance(value, dict):  # no path: an object of attributes (RFC 7644 §3.5.2.1)
            total += sum(len(v) for v in value.values() if isinstance(v, list))
        elif isinstance(value, list):
            total += len(value)
    if total > limit:
        raise errors.InvalidValue(
            f"a PATCH may carry at most {limit} values in all; it has {total}; split it"
        )


def _filter_max_length() -> int:
    parameter = spec.document()["components"]["parameters"]["filter"]
    return int(parameter["schema"]["maxLength"])


_FILTER_MAX = _filter_max_length()
