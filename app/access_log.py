"""The access log: one line per request on stderr, as text for a terminal or JSON for shippers.

`SCIM_LOG_FORMAT` chooses `text` (the default), `json` (one object per line) or `off`. What a
line holds is already free of secrets: the query went through app/redact.py, and bodies and
headers are never printed.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING

import orjson

from app import config
from app.redact import printable

if TYPE_CHECKING:
    from app.observe import Exchange

log = logging.getLogger("scim.access")


class _Stderr(logging.Handler):
    """Writes to whatever sys.stderr is at the time (test runners replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def _setup() -> None:
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # the root logger's prefix would break one JSON object per line


_setup()


def client_family(user_agent: str) -> str:
    """`okta`, `entra` or `other`, from the User-Agent header.

    Okta sends `Okta SCIM Client <version>` (its OIN test runner `OKTA SCIM Integration`,
    tests/exchanges/okta/spec-test.json); Microsoft Entra's provisioning service names
    Microsoft or Azure in its agent.
    """
    agent = user_agent.lower()
    if "okta" in agent:
        return "okta"
    if "microsoft" in agent or "azure" in agent or "entra" in agent:
        return "entra"
    return "other"


_second: tuple[int, str] = (0, "")


def timestamp(epoch: float) -> str:
    """RFC 3339 UTC with milliseconds (the text of the second is made once per second)."""
    global _second
    whole = int(epoch)
    if _second[0] != whole:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((epoch - whole) * 1000):03d}Z"


def line(exchange: Exchange, fmt: str) -> str:
    """The access log's line for one exchange, in `text` or `json`."""
    if fmt == "json":
        return orjson.dumps(
            {
                "time": timestamp(exchange.started),
                "request_id": exchange.request_id,
                "method": exchange.method,
                "path": exchange.path,
                "query": exchange.query,
                "status": exchange.status,
                "scimType": exchange.scim_type,
                "latency_ms": round(exchange.latency_ms, 2),
                "client": exchange.client,
                "resource_id": exchange.resource_id,
            }
        ).decode()
    target = exchange.path + (f"?{exchange.query}" if exchange.query else "")
    parts = [
        timestamp(exchange.started),
        exchange.request_id,
        exchange.method,
        printable(target),
        str(exchange.status),
    ]
    if exchange.scim_type:
        parts.append(printable(exchange.scim_type))
    parts += [f"{exchange.latency_ms:.1f}ms", exchange.client]
    if exchange.resource_id:
        parts.append(f"id={printable(exchange.resource_id)}")
    return " ".join(parts)


def emit(exchange: Exchange) -> None:
    """Print the exchange's line, unless the access log is off."""
    fmt = config.get().log_format
    if fmt != "off":
        log.info(line(exchange, fmt))
