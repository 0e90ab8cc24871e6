"""Replays Okta's provisioning traffic (tests/exchanges/okta/*.json) against the app.

Each file is one lifecycle flow: a list of steps with `method`, `path`, `request` (body),
`headers`, `status` and `response` (a subset the answer must contain). `save` captures
values from a response (`{"name": "/json/pointer"}`, `""` for the whole body) for `${name}`
in later steps. In an expected response, "<any>" means present and non-empty and "<absent>"
means not there. A flow's `settings` are the server's (`schemas_dir` relative to the
repository: the flow runs on an app built for that SCIM_SCHEMAS_DIR).
Sources: Okta's SCIM 2.0 reference and the steps of its OIN SPEC and CRUD tests (CONTRIBUTING.md,
"Identity-provider quirks").
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ScimClient, app_for

ROOT = Path(__file__).resolve().parent.parent
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
    """Resolve a JSON pointer like /Resources/0/id ("" is the whole document)."""
    if path in ("", "/"):
        return document
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


def flow_client(make_client: Any, settings: dict[str, Any]) -> ScimClient:
    """A client of the shared app, or of one built for the flow's SCIM_SCHEMAS_DIR."""
    if "schemas_dir" not in settings:
        return make_client(**settings)  # type: ignore[no-any-return]
    folder = str(ROOT / settings["schemas_dir"])
    return make_client(served=app_for(folder), **{**settings, "schemas_dir": folder})  # type: ignore[no-any-return]


@pytest.mark.parametrize("exchange", EXCHANGES, ids=lambda p: p.stem)
def test_okta_flow(make_client: Any, exchange: Path) -> None:
    flow = json.loads(exchange.read_text())
    client = flow_client(make_client, flow.get("settings", {}))
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


def test_a_profile_push_of_what_was_read_round_trips_exactly(make_client: Any) -> None:
    """Okta's update is GET then a full PUT of what it read (issue #10 item 6): custom,
    enterprise and undeclared objects, a manager with its $ref, all come back the same."""
    client = flow_client(make_client, {"schemas_dir": "examples/schemas"})
    acme = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
    enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    boss = client.create_user("boss@okta.local")
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", acme],
        "userName": "eve@okta.local",
        "name": {"givenName": "Eve", "familyName": "Polastri"},
        "emails": [{"primary": True, "value": "eve@okta.local", "type": "work"}],
        "active": True,
        enterprise: {"employeeNumber": "42", "manager": {"value": boss["id"]}},
        acme: {
            "costCenter": "CC-1", "employeeId": "E-1", "region": "emea", "clearanceLevel": 2,
            "hourlyRate": 10.5, "remote": "True", "startDate": "2026-01-01T09:00:00+01:00",
            "badgeCode": "QUJD", "hireSource": "okta", "doorPin": "0000", "skills": ["a"],
            "projects": [{"value": "p1", "role": "Lead", "primary": True}],
            "desk": {"building": "B", "floor": 3},
        },
        "urn:example:unknown:1.0:User": {"kept": ["as", "sent"]},
    }  # fmt: skip
    created = client.post("/Users", body).json()
    path = f"/Users/{created['id']}"
    read = client.get(path).json()
    pushed = client.put(path, read)
    assert pushed.status_code == 200, pushed.text
    again = client.get(path).json()
    for document in (read, again):
        document["meta"].pop("version"), document["meta"].pop("lastModified")
    assert again == read
    assert read[enterprise]["manager"] == {"value": boss["id"], "$ref": f"../Users/{boss['id']}"}
    assert read[acme]["startDate"] == "2026-01-01T08:00:00.000Z" and "doorPin" not in read[acme]
    # doorPin is writeOnly: never returned, so not in the PUT, and kept (like a password).
    from app import store
    from app.resources import USER

    assert store.fetch(USER, created["id"]).resource[acme]["doorPin"] == "0000"
