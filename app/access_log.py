"""The access log: one line per request on stderr, as text for a terminal or JSON for shippers.

`SCIM_LOG_FORMAT` chooses `text` (the default), `json` (one object per line) or `off`. What a
line holds is already free of secrets: the query went through app/redact.py, and bodies and
headers are never printed.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import orjson

from app import config
from app.redact import printable

if TYPE_CHECKING:
    from app.observe import Exchange


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
    """Print the exchange's line on stderr, unless the access log is off.

    Written straight to sys.stderr (line-buffered, whatever test runners put there), not
    through `logging`: a record, a lock and a formatter per request would cost more than the
    line, and no other handler is wanted for it.
    """
    fmt = config.get().log_format
    if fmt != "off":
        sys.stderr.write(line(exchange, fmt) + "\n")
