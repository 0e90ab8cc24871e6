"""Replays Okta's provisioning traffic (tests/exchanges/okta/*.json) against the app.

Each file is one lifecycle flow: a list of steps with `method`, `path`, `request` (body),
`headers`, `status` and `response` (a subset the answer must contain). `save` captures
values from a response (`{"name": "/json/pointer"}`) for `${name}` in later steps. In an
expected response, "<any>" means present and non-empty and "<absent>" means not there.
Sources: Okta's SCIM 2.0 reference and the steps of its OIN SPEC and CRUD tests (CONTRIBUTING.md,
"Identity-provider quirks").
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ScimClient

EXCHANGES = sorted((Path(__file__).parent / "exchanges" / "okta").glob("*.json"))


def substitute(value: Any, saved: dict[str, Any]) -> Any:
    """Replace ${name} in every string of a JSON value."""
    if isinstance(value, str):
        whole = re.fullmatch(r"\$\{(\w+)\}", value)
        if whole:
            return saved[whole.group(1)]
        return re.sub(r"\$\{(\w+)\}", lambda m: str(saved[m.group(1)]), value)
    if isinstance(value, list):
        return [substitute(v, saved) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, saved) for k, v in value.items()}
    return value


def pointer(document: Any, path: str) -> Any:
    """Resolve a JSON pointer like /Resources/0/id."""
    for part in path.strip("/").split("/"):
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


def assert_contains(actual: Any, expected: Any, where: str = "") -> None:
    """`actual` has everything `expected` has; lists compare item by item, same length."""
    if expected == "<any>":
        assert actual not in (None, "", [], {}), f"{where} is empty"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in expected.items():
            if value == "<absent>":
                assert key not in actual, f"{where}/{key} should be absent"
            else:
                assert key in actual, f"{where}/{key} missing in {json.dumps(actual)[:400]}"
                assert_contains(actual[key], value, f"{where}/{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_contains(a, e, f"{where}/{i}")
    else:
        assert actual == expected and type(actual) is type(expected), (
            f"{where}: {actual!r} != {expected!r}"
        )


def has_key(document: Any, key: str) -> bool:
    """Whether any object inside the document has this key."""
    if isinstance(document, dict):
        return key in document or any(has_key(v, key) for v in document.values())
    if isinstance(document, list):
        return any(has_key(v, key) for v in document)
    return False


@pytest.mark.parametrize("exchange", EXCHANGES, ids=lambda p: p.stem)
def test_okta_flow(client: ScimClient, exchange: Path) -> None:
    flow = json.loads(exchange.read_text())
    saved: dict[str, Any] = {}
    for number, step in enumerate(flow["steps"], 1):
        step = substitute(step, saved)
        response = client.request(
            step["method"], step["path"], step.get("request"), headers=step.get("headers")
        )
        label = f"step {number} ({step.get('name', step['method'] + ' ' + step['path'])})"
        assert response.status_code == step["status"], f"{label}: {response.text}"
        body = response.json() if response.content else None
        if "response" in step:
            assert_contains(body, step["response"], label)
        assert not has_key(body, "password"), f"{label}: a password came back: {response.text}"
        for name, path in step.get("save", {}).items():
            saved[name] = pointer(body, path)
