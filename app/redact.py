"""Secrets taken out of what the access log prints and the journal keeps. Pure functions.

Passwords are write-only (RFC 7643 §4.1.1): a client sends them in POST, PUT, PATCH and /Bulk
bodies, as a `password` key (also URN-qualified), as a PATCH operation whose `path` names the
password, or inside a filter that names it. Credentials travel in `Authorization`, cookies and
headers or query parameters named like tokens. Each is replaced by REDACTED before anything is
stored or printed; a body that mentions a secret but cannot be parsed is withheld whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import orjson

REDACTED = "[REDACTED]"
# Names of keys, headers and query parameters whose values are secrets.
_SECRET_NAME = re.compile(
    r"password|passwd|secret|token|authorization|cookie|api[-_]?key|credential", re.IGNORECASE
)


# The cheap test run on every body: most bodies mention none of these and are kept as sent.
# Substring searches of the lower-cased bytes, written out: a tenth of the cost of one
# IGNORECASE regex, and a third of the same searches in a generator.
def mentions_secret(raw: bytes) -> bool:
    """Whether bytes may hold a secret (a name _SECRET_NAME matches appears in them)."""
    b = raw.lower()
    return (
        b"passw" in b or b"secret" in b or b"token" in b or b"authorization" in b
        or b"cookie" in b or b"apikey" in b or b"api_key" in b or b"api-key" in b
        or b"credential" in b
    )  # fmt: skip


def echoes_secret(raw: bytes) -> bool:
    """Whether a response may quote a secret (only an error's `detail` can: body())."""
    lowered = raw.lower()
    return b"passw" in lowered or b"secret" in lowered


# Words that make a string's quoted literals secret: `password eq "x"` in a filter.
_SECRET_WORD = re.compile(r"password|passwd|secret", re.IGNORECASE)
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def secret_name(name: str) -> bool:
    """Whether a key, header or parameter of this name holds a secret."""
    return _SECRET_NAME.search(name) is not None


def body(raw: bytes, echoed: bool = False) -> str:
    """A request or response body as text with every secret value replaced.

    `echoed`: a body this server wrote (a response). It never holds a password or a token
    (RFC 7643 §4.1.1: passwords are never returned); only an error's `detail` can quote what
    a client sent, such as a filter naming the password, so only that word is looked for.
    """
    if not (echoes_secret(raw) if echoed else mentions_secret(raw)):
        return raw.decode("utf-8", "replace")
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return f"[withheld: {len(raw)} bytes that are not JSON and mention a secret]"
    return orjson.dumps(value(parsed)).decode()


def value(node: Any) -> Any:
    """A parsed JSON value with secrets replaced: secret-named keys, the `value` of a PATCH
    operation whose `path` names one, and quoted literals in strings that mention one."""
    if isinstance(node, dict):
        path = node.get("path")
        secret_path = isinstance(path, str) and secret_name(path)
        return {
            key: REDACTED
            if secret_name(key) or (secret_path and key.lower() == "value")
            else value(item)
            for key, item in node.items()
        }
    if isinstance(node, list):
        return [value(item) for item in node]
    if isinstance(node, str):
        return text(node)
    return node


def text(line: str) -> str:
    """A string that mentions a secret (a filter, an error's detail) with its quoted literals
    replaced: `password eq "x"` becomes `password eq "[REDACTED]"`."""
    if _SECRET_WORD.search(line) is None:
        return line
    return _QUOTED.sub(f'"{REDACTED}"', line)


def query(raw: bytes) -> str:
    """A query string decoded for reading, with secret parameters and literals replaced."""
    decoded = raw.decode("latin-1")
    if not mentions_secret(raw):
        return unquote_plus(decoded, errors="replace")
    pairs = parse_qsl(decoded, keep_blank_values=True, encoding="utf-8", errors="replace")
    if not pairs:
        return unquote_plus(decoded, errors="replace")
    return "&".join(f"{k}={REDACTED if secret_name(k) else text(v)}" for k, v in pairs)


def headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """Headers as text; `Authorization` keeps only its scheme, other secrets are replaced."""
    found = []
    for name_bytes, value_bytes in raw:
        name, kind = _header_names.get(name_bytes) or _header_name(name_bytes)
        shown = value_bytes.decode("latin-1")
        if kind == _AUTHORIZATION:
            scheme, space, _ = shown.strip().partition(" ")
            shown = f"{scheme} {REDACTED}" if space else f"{REDACTED} (a bare token)"
        elif kind == _SECRET:
            shown = REDACTED
        found.append((name, shown))
    return found


_PLAIN, _SECRET, _AUTHORIZATION = 0, 1, 2
# Header names seen, with what they hold: clients send the same few on every request.
_header_names: dict[bytes, tuple[str, int]] = {}


def _header_name(raw: bytes) -> tuple[str, int]:
    name = raw.decode("latin-1").lower()
    if name == "authorization":
        found = (name, _AUTHORIZATION)
    else:
        found = (name, _SECRET if secret_name(name) else _PLAIN)
    if len(_header_names) < 1024:  # names are the client's to choose: keep the cache bounded
        _header_names[raw] = found
    return found


def printable(line: str) -> str:
    """Control characters escaped, so one request is one line of a log."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", line)
