"""The access log, request ids, metrics and health checks (app/observe.py, app/access_log.py,
app/metrics.py, app/health.py), in-process."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from app import access_log, database
from tests.conftest import GROUP_SCHEMA, TOKEN, USER_SCHEMA, ScimClient, assert_scim_error

OKTA = {"User-Agent": "Okta SCIM Client 1.0.0"}
TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?P<rid>\S+) (?P<method>[A-Z]+) (?P<target>.+?)"
    r" (?P<status>\d{3})(?: (?P<scim_type>[a-zA-Z]+))? (?P<ms>\d+\.\d)ms (?P<client>\w+)"
    r"(?: id=(?P<id>\S+))?$"
)


def lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line]


@pytest.mark.parametrize(
    ("agent", "family"),
    [
        ("Okta SCIM Client 1.0.0", "okta"),
        ("OKTA SCIM Integration", "okta"),
        ("Microsoft.IdentityProvider/1.0", "entra"),
        ("Azure AD SCIM Provisioning", "entra"),
        ("curl/8.5.0", "other"),
        ("", "other"),
    ],
)
def test_client_family(agent: str, family: str) -> None:
    assert access_log.client_family(agent) == family


def test_one_text_line_per_request(client: ScimClient, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    body = {"schemas": [USER_SCHEMA], "userName": "ada@example.com"}
    user = client.post("/Users", body, headers=OKTA).json()
    client.post("/Users", {"schemas": [USER_SCHEMA], "userName": "ADA@example.com"}, headers=OKTA)
    client.get("/Users", params={"filter": 'userName eq "ada@example.com"'})
    created, conflict, lookup = (TEXT_LINE.match(line) for line in lines(capsys))
    assert created and created["method"] == "POST" and created["status"] == "201"
    assert created["client"] == "okta" and created["id"] == user["id"]
    assert conflict and conflict["status"] == "409" and conflict["scim_type"] == "uniqueness"
    assert lookup and lookup["target"] == '/scim/v2/Users?filter=userName eq "ada@example.com"'
    assert lookup["client"] == "other"


def test_json_lines(
    make_client: Callable[..., ScimClient], capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(log_format="json")
    capsys.readouterr()
    client.get("/Users/nope", headers={"X-Request-Id": "okta-abc-123", **OKTA})
    (line,) = lines(capsys)
    logged = json.loads(line)
    assert logged["request_id"] == "okta-abc-123" and logged["status"] == 404
    assert logged["path"] == "/scim/v2/Users/nope" and logged["resource_id"] == "nope"
    assert logged["client"] == "okta" and logged["scimType"] is None
    assert set(logged) == {"time", "request_id", "method", "path", "query", "status", "scimType",
                           "latency_ms", "client", "resource_id"}  # fmt: skip


def test_log_off(
    make_client: Callable[..., ScimClient], capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(log_format="off")
    capsys.readouterr()
    client.get("/Users")
    assert lines(capsys) == []


def test_no_secret_in_the_log(client: ScimClient, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    client.create_user("grace@example.com", password="hunter2-secret")
    client.get("/Users", params={"filter": 'password eq "hunter2-secret"'})
    client.http.get(
        "/scim/v2/Users?access_token=tok-123", headers={"Authorization": "Bearer wrong"}
    )
    logged = capsys.readouterr().err
    assert "hunter2" not in logged and "tok-123" not in logged and "wrong" not in logged
    assert 'password eq "[REDACTED]"' in logged and "access_token=[REDACTED]" in logged


def test_control_characters_stay_on_one_line(
    client: ScimClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    client.get("/Users/a%0aFORGED%20200")
    (line,) = lines(capsys)
    assert "\\x0aFORGED" in line


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("okta-req-1", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("has space", False),
        ("", False),
    ],
)
def test_request_id(client: ScimClient, sent: str, kept: bool) -> None:
    answer = client.get("/Users", headers={"X-Request-Id": sent} if sent else {})
    echoed = answer.headers["X-Request-Id"]
    assert (echoed == sent) is kept
    assert re.fullmatch(r"[\x21-\x7e]{1,128}", echoed)


def test_refusals_carry_a_request_id(client: ScimClient) -> None:
    answer = client.http.get("/scim/v2/Users", headers={"X-Request-Id": "r-401"})
    assert_scim_error(answer, 401)
    assert answer.headers["X-Request-Id"] == "r-401"


def metrics_text(client: ScimClient) -> str:
    answer = client.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return str(answer.text)


def sample(text: str, name: str, **labels: str) -> float:
    """A sample's value in Prometheus' text format (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests(client: ScimClient) -> None:
    before = metrics_text(client)
    labels = {"operation": "POST /Users", "status": "409", "client": "okta"}
    client.post("/Users", {"schemas": [USER_SCHEMA], "userName": "linus@example.com"}, headers=OKTA)
    client.post("/Users", {"schemas": [USER_SCHEMA], "userName": "linus@example.com"}, headers=OKTA)
    after = metrics_text(client)
    assert (
        sample(after, "scim_requests_total", **labels)
        == sample(before, "scim_requests_total", **labels) + 1
    )
    assert sample(after, "scim_request_duration_seconds_count", operation="POST /Users") >= 2
    assert sample(after, "scim_write_lock_wait_seconds_count") > sample(
        before, "scim_write_lock_wait_seconds_count"
    )
    for name in ("scim_backlog", "scim_journal_written_total", "scim_journal_dropped_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in after


def test_metrics_labels_are_bounded(client: ScimClient) -> None:
    client.get("/Users/some-id")
    client.request("BREW", "/Nope")
    text = metrics_text(client)
    assert 'operation="GET /Users/{user_id}"' in text and "some-id" not in text
    assert 'operation="OTHER unknown"' in text and "BREW" not in text


def test_metrics_want_the_token(make_client: Callable[..., ScimClient]) -> None:
    client = make_client()
    refused = client.http.get("/metrics")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.http.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.http.get("/metrics", headers={"Authorization": TOKEN}).status_code == 200
    open_client = make_client(metrics_access="open")
    assert open_client.http.get("/metrics").status_code == 200


def test_health(client: ScimClient) -> None:
    assert client.http.get("/healthz").json() == {"status": "ok"}
    assert client.http.get("/readyz").json() == {"status": "ready"}


@pytest.mark.sqlite_only  # SQLite's total_changes
def test_ready_writes_nothing(client: ScimClient) -> None:
    conn = database.connection()
    before = conn.total_changes
    assert client.http.get("/readyz").status_code == 200
    assert conn.total_changes == before


def test_not_ready_when_the_database_cannot_be_written(
    client: ScimClient, monkeypatch: Any
) -> None:
    def locked() -> Any:
        raise database.sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(database, "write", locked)
    answer = client.http.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable", "detail": "database is locked"}


@pytest.mark.parametrize("path", ["/scim/v2/console", "/scim/v2/metrics", "/consoles", "/metricsx"])
def test_other_paths_are_still_scim_404s(client: ScimClient, path: str) -> None:
    assert_scim_error(client.http.get(path), 404)


def test_group_create_logged_with_its_id(
    client: ScimClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    group = client.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Ops"}).json()
    (line,) = lines(capsys)
    assert line.endswith(f"id={group['id']}")
