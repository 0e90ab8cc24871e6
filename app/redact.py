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
# Substring searches of the lower-cased bytes: a tenth of the cost of one IGNORECASE regex.
_SECRET_PARTS = (
    b"passw", b"secret", b"token", b"authorization", b"cookie", b"apikey", b"api_key",
    b"api-key", b"credential",
)  # fmt: skip
# Words that make a string's quoted literals secret: `password eq "x"` in a filter.
_SECRET_WORD = re.compile(r"password|passwd|secret", re.IGNORECASE)
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def secret_name(name: str) -> bool:
    """Whether a key, header or parameter of this name holds a secret."""
    return _SECRET_NAME.search(name) is not None


def mentions_secret(raw: bytes) -> bool:
    """Whether bytes may hold a secret (a name from _SECRET_NAME appears in them)."""
    lowered = raw.lower()
    return any(part in lowered for part in _SECRET_PARTS)


def body(raw: bytes) -> str:
    """A request or response body as text with every secret value replaced."""
    if not mentions_secret(raw):
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
        name = name_bytes.decode("latin-1").lower()
        shown = value_bytes.decode("latin-1")
        if name == "authorization":
            scheme, space, _ = shown.strip().partition(" ")
            shown = f"{scheme} {REDACTED}" if space else f"{REDACTED} (a bare token)"
        elif secret_name(name):
            shown = REDACTED
        found.append((name, shown))
    return found


def printable(line: str) -> str:
    """Control characters escaped, so one request is one line of a log."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", line)
