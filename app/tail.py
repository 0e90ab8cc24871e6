"""`make events` (`python -m app.events tail`): poll the server's events and print each as one
line (time, event, resource, who), the quickest way to watch what an identity provider does.

It is an RFC 8936 poll receiver like any other: it uses SCIM_EVENTS_TOKEN and acknowledges
what it printed, so the events are not offered to another poller (run it while your app
takes events by push, or before it polls). With `--no-ack` it leaves them unacknowledged: they
are offered again after the server's redelivery delay. It shows the claims without checking
the signature; a receiver that acts on events verifies it (README.md, "Events").
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from typing import Any

import httpx
import orjson

PROV = "urn:ietf:params:scim:event:prov:"


def main(argv: list[str]) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m app.events", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    tail = commands.add_parser("tail", help="print events as they come")
    default_url = os.environ.get("SCIM_EVENTS_URL", "http://127.0.0.1:8000/scim/v2")
    tail.add_argument("--url", default=default_url, help="the SCIM base URL (SCIM_EVENTS_URL)")
    tail.add_argument("--no-ack", action="store_true", help="leave the events unacknowledged")
    tail.add_argument("--once", action="store_true", help="print what is due now and stop")
    args = parser.parse_args(argv)
    token = os.environ.get("SCIM_EVENTS_TOKEN")
    if not token:
        print("set SCIM_EVENTS_TOKEN to the server's events token", file=sys.stderr)
        return 2
    try:
        run(args.url.rstrip("/"), token, ack=not args.no_ack, once=args.once)
    except KeyboardInterrupt:
        return 0
    except httpx.HTTPError as exc:
        print(f"polling {args.url} failed: {exc}", file=sys.stderr)
        return 1
    return 0


def run(base: str, token: str, ack: bool, once: bool) -> None:
    """Poll until interrupted (or once), printing a line per SET."""
    headers = {"Authorization": f"Bearer {token}"}
    acks: list[str] = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        while True:
            body = {"maxEvents": 100, "returnImmediately": once, "ack": acks}
            answer = http.post("/events/poll", json=body)
            if answer.status_code != 200:
                raise httpx.HTTPError(f"{answer.status_code} {answer.text[:200]}")
            found = answer.json()
            for token_text in found["sets"].values():
                print(line(claims_of(token_text)), flush=True)
            acks = list(found["sets"]) if ack else []
            if once and not found["moreAvailable"]:
                if acks:
                    http.post("/events/poll", json={"maxEvents": 0, "ack": acks})
                return


def claims_of(token: str) -> dict[str, Any]:
    """A SET's claims, read without checking its signature."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = orjson.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def line(claims: dict[str, Any]) -> str:
    """`2026-12-02 10:00:01Z  patch+deactivate  /Users/<id>  alice@example.com`."""
    when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(claims.get("toe", claims["iat"])))
    names = "+".join(uri.lower().removeprefix(PROV) for uri in claims["events"])
    subject = claims.get("sub_id", {})
    return f"{when}  {names:<28} {subject.get('uri', '?')}  {who(claims)}"


def who(claims: dict[str, Any]) -> str:
    """The user or group a SET is about, as a person would name it."""
    for payload in claims["events"].values():
        data = payload.get("data") if isinstance(payload, dict) else None
        if isinstance(data, dict):
            for name in ("userName", "displayName"):
                if isinstance(data.get(name), str):
                    return str(data[name])
            if data.get("Operations"):
                return _operations(data["Operations"])
        if isinstance(payload, dict) and payload.get("attributes"):
            return "changed: " + ", ".join(payload["attributes"])
    external = claims.get("sub_id", {}).get("externalId")
    return f"externalId {external}" if external else ""


def _operations(operations: list[Any]) -> str:
    parts = []
    for operation in operations[:3]:
        if isinstance(operation, dict):
            target = operation.get("path") or ", ".join(operation.get("value") or {})
            parts.append(f"{operation.get('op', '?')} {target}")
    return "; ".join(parts) + (" ..." if len(operations) > 3 else "")
