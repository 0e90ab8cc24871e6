"""The journal of exchanges (app/journal.py): what is kept, redacted, bounded, and where."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from app import config, database, journal
from tests.conftest import PATCH_SCHEMA, USER_SCHEMA, ScimClient

PASSWORD = "Pa55-w0rd-never-kept"
OKTA = {"User-Agent": "Okta SCIM Client 1.0.0"}


def entries(**wanted: str) -> list[journal.Entry]:
    journal.flush()
    return journal.search(journal.Wanted(**wanted), 1000, 0)[1]


def stored_text() -> str:
    """Everything in the journal file, as text."""
    journal.flush()
    with journal.reading() as conn:
        return "\n".join(repr(row) for row in conn.execute("SELECT * FROM exchange"))


def user(name: str, **more: object) -> dict[str, object]:
    return {"schemas": [USER_SCHEMA], "userName": name, **more}


def test_an_exchange_is_kept_whole(client: ScimClient) -> None:
    created = client.post("/Users", user("ada@example.com"), headers=OKTA | {"X-Request-Id": "r1"})
    (entry,) = entries()
    assert (entry.method, entry.path, entry.status, entry.client) == (
        "POST",
        "/scim/v2/Users",
        201,
        "okta",
    )
    assert entry.request_id == "r1" and entry.operation == "POST /Users"
    assert entry.resource_id == created.json()["id"]
    assert json.loads(entry.request_body) == user("ada@example.com")
    assert json.loads(entry.response_body) == created.json()
    assert ("user-agent", "Okta SCIM Client 1.0.0") in entry.request_headers
    assert ("etag", created.headers["etag"]) in entry.response_headers
    assert entry.latency_ms > 0 and entry.time.endswith("Z")


def test_refused_requests_are_kept(make_client: Callable[..., ScimClient]) -> None:
    client = make_client(max_body_bytes=2000)
    client.post("/Users", user("ada@example.com"))
    client.post("/Users", user("ADA@example.com"))  # 409
    client.post("/Users", {"schemas": [USER_SCHEMA]})  # 400
    client.request("POST", "/Users", headers={"Content-Type": "application/scim+json"},
                   content=b'{"userName": "' + b"x" * 3000 + b'"}')  # fmt: skip
    client.http.post("/scim/v2/Users", headers={"Authorization": "Bearer nope"}, content=b"{}")
    client.get("/Nowhere")
    found = {e.status: e for e in entries()}
    assert set(found) == {201, 409, 400, 413, 401, 404}
    assert found[409].scim_type == "uniqueness" and "already taken" in found[409].response_body
    assert found[400].scim_type in ("invalidValue", "invalidSyntax")
    assert found[401].request_body in ("", journal.NOT_AUTHENTICATED)
    assert ("authorization", "Bearer [REDACTED]") in found[401].request_headers


def test_no_password_is_ever_stored(client: ScimClient) -> None:
    created = client.post("/Users", user("grace@example.com", password=PASSWORD)).json()
    path = f"/Users/{created['id']}"
    client.patch(path, [{"op": "replace", "path": "password", "value": PASSWORD}])
    client.patch(path, [{"op": "replace", "value": {"password": PASSWORD}}])
    client.put(path, user("grace@example.com", password=PASSWORD))
    client.post("/Bulk", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "POST", "path": "/Users", "bulkId": "b",
                        "data": user("bulk@example.com", password=PASSWORD)}],
    })  # fmt: skip
    client.request(
        "POST",
        "/Users",
        headers={"Content-Type": "application/scim+json"},
        content=b'{"userName": "x", "password": "' + PASSWORD.encode(),
    )  # malformed
    client.get("/Users", params={"filter": f'password eq "{PASSWORD}"'})
    client.http.get("/scim/v2/Users", headers={"Authorization": PASSWORD})
    text = stored_text()
    assert len(entries()) == 8
    assert PASSWORD not in text and "test-token" not in text
    assert "[REDACTED]" in text


def test_bounded_to_the_newest(make_client: Callable[..., ScimClient]) -> None:
    client = make_client(journal_size=5)
    for n in range(12):
        client.get(f"/Users/n{n}")
        if n % 4 == 3:
            journal.flush()  # several batches, each trimming
    kept = entries()
    assert [e.path for e in kept] == [f"/scim/v2/Users/n{n}" for n in range(11, 6, -1)]


def test_off_at_zero(make_client: Callable[..., ScimClient]) -> None:
    client = make_client(journal_size=0)
    client.get("/Users")
    journal.flush()
    assert not Path(journal.path_for(config.get().db_path)).exists()


@pytest.mark.sqlite_only  # the journal file beside the SQLite file
def test_beside_the_database_and_reads_write_nothing_there(client: ScimClient) -> None:
    client.post("/Users", user("ada@example.com"))
    conn = database.connection()
    before = conn.total_changes
    for _ in range(5):
        client.get("/Users", params={"filter": 'userName eq "ada@example.com"'})
    journal.flush()
    assert conn.total_changes == before
    assert os.path.exists(config.get().db_path + ".journal")


def test_long_bodies_are_cut(client: ScimClient) -> None:
    client.post("/Users", user("ada@example.com", title="t" * (journal.BODY_CHARS + 10)))
    (entry,) = entries()
    assert len(entry.request_body) < journal.BODY_CHARS + 100
    assert entry.request_body.endswith("bytes in all]")


def test_filters(client: ScimClient) -> None:
    client.post("/Users", user("ada@example.com"), headers=OKTA)
    client.post("/Users", user("ada@example.com"), headers={"User-Agent": "Azure AD SCIM"})
    client.get("/Groups")
    assert [e.status for e in entries(status="409")] == [409]
    assert [e.status for e in entries(status="4xx")] == [409]
    assert [e.status for e in entries(status="error")] == [409]
    assert [e.client for e in entries(client="entra")] == ["entra"]
    assert [e.path for e in entries(path="Groups")] == ["/scim/v2/Groups"]
    assert entries(path="%") == [] and entries(path="_") == []  # LIKE's wildcards are literal
    assert journal.since(0) == [("entra", 409, 1), ("okta", 201, 1), ("other", 200, 1)]


def test_patch_paths_naming_the_password_are_redacted(client: ScimClient) -> None:
    created = client.post("/Users", user("ada@example.com")).json()
    body = {"schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "Replace", "path": "password", "value": PASSWORD}]}  # fmt: skip
    client.request("PATCH", f"/Users/{created['id']}", body)
    entry = entries(path=created["id"])[0]
    assert json.loads(entry.request_body)["Operations"][0]["value"] == "[REDACTED]"


def test_a_journal_of_another_layout_is_replaced(client: ScimClient) -> None:
    path = journal.path_for(config.get().db_path)
    with journal.reading() as conn:
        conn.execute("PRAGMA user_version = 99")
    client.get("/Users")
    assert len(entries()) == 1
    assert os.path.exists(path)


def test_long_responses_are_cut_shorter(client: ScimClient) -> None:
    for n in range(40):
        client.post("/Users", user(f"user{n:02d}@example.com"))
    page = client.get("/Users", params={"count": 40})
    assert len(page.content) > journal.RESPONSE_CHARS
    entry = entries(path="/Users")[0]
    assert entry.method == "GET"
    assert entry.response_body.startswith('{"schemas":["urn:ietf:params:scim:api:messages:2.0:')
    assert entry.response_body.endswith(f"\n[cut: {len(page.content)} bytes in all]")
    assert len(entry.response_body) < journal.RESPONSE_CHARS + 100


def test_a_long_response_that_names_the_password_is_read_whole_before_the_cut(
    client: ScimClient,
) -> None:
    schemas = client.get("/Schemas")  # the User schema declares `password`
    assert len(schemas.content) > journal.RESPONSE_CHARS
    (entry,) = entries(path="/Schemas")
    assert entry.response_body.startswith('{"schemas":')
    assert entry.response_body.endswith(f"\n[cut: {len(schemas.content)} bytes in all]")
