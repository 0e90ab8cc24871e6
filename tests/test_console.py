"""The console at /console (app/console/), in-process: sign-in, sessions, CSRF, every page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from app import config, journal
from app.console import session
from tests.conftest import TOKEN, USER_SCHEMA, ScimClient, seed_users

PAGES = ["/console/", "/console/users", "/console/users/x", "/console/groups",
         "/console/groups/x", "/console/requests", "/console/requests/1"]  # fmt: skip


def sign_in(client: ScimClient, token: str = TOKEN) -> Any:
    return client.http.post("/console/login", data={"token": token}, follow_redirects=False)


def with_cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"{session.COOKIE}={value}"}


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, "no sign-out form"
    return found.group(1)


@pytest.fixture
def browser(client: ScimClient) -> ScimClient:
    """A client signed in to the console (its cookie jar holds the session)."""
    assert sign_in(client).status_code == 303
    return client


@pytest.mark.parametrize("path", PAGES)
def test_nothing_without_signing_in(client: ScimClient, path: str) -> None:
    answer = client.http.get(path, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/login"


def test_sign_in_sets_a_strict_cookie(client: ScimClient) -> None:
    form = client.http.get("/console/login")
    assert form.status_code == 200 and 'name="token"' in form.text
    answer = sign_in(client)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{session.COOKIE}=")
    for flag in ("HttpOnly", "SameSite=strict", "Path=/console", "Max-Age=28800"):
        assert flag in cookie
    assert "Secure" not in cookie  # plain HTTP here


def test_secure_cookie_behind_https(make_client: Callable[..., ScimClient]) -> None:
    client = make_client(base_url="https://scim.example.com/scim/v2")
    assert "Secure" in sign_in(client).headers["set-cookie"]


@pytest.mark.parametrize("token", ["wrong", "", TOKEN + "x", " "])
def test_a_wrong_token_gets_the_form_again(client: ScimClient, token: str) -> None:
    answer = sign_in(client, token)
    assert answer.status_code == 401 and "That token is not accepted." in answer.text
    assert "set-cookie" not in answer.headers


def test_sign_in_from_another_origin_is_refused(client: ScimClient) -> None:
    answer = client.http.post("/console/login", data={"token": TOKEN},
                              headers={"Origin": "https://evil.example"})  # fmt: skip
    assert answer.status_code == 403


@pytest.mark.parametrize("path", PAGES[:2] + PAGES[3:4] + PAGES[5:6])
def test_pages_after_signing_in(browser: ScimClient, path: str) -> None:
    answer = browser.http.get(path)
    assert answer.status_code == 200
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert answer.headers["cache-control"] == "no-store"
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce and f'<script nonce="{nonce.group(1)}">' in answer.text
    assert "http://" not in answer.text and "https://" not in answer.text  # nothing fetched


def test_sign_out_needs_the_csrf_token_and_ends_the_session(browser: ScimClient) -> None:
    page = browser.http.get("/console/").text
    cookie = browser.http.cookies[session.COOKIE]
    assert browser.http.post("/console/logout", data={"csrf": "0" * 64}).status_code == 403
    assert browser.http.post("/console/logout", data={}).status_code == 403
    assert browser.http.get("/console/", follow_redirects=False).status_code == 200  # still in
    answer = browser.http.post("/console/logout", data={"csrf": csrf(page)}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/login"
    # The cookie copied before signing out is refused too: the session ended on the server.
    browser.http.cookies.clear()
    replayed = browser.http.get("/console/", headers=with_cookie(cookie), follow_redirects=False)
    assert replayed.status_code == 303


def test_sign_out_without_a_session_is_401(client: ScimClient) -> None:
    assert client.http.post("/console/logout", data={"csrf": "x"}).status_code == 401


@pytest.mark.parametrize(
    "forge",
    [
        lambda v: v[:-1] + ("0" if v[-1] != "0" else "1"),  # signature
        lambda v: "other" + v[5:],  # session id
        lambda v: v.split(".")[0] + ".9999999999." + ".".join(v.split(".")[2:]),  # expiry
        lambda v: "garbage",
        lambda v: v + ".extra",
    ],
    ids=["signature", "session-id", "expiry", "garbage", "extra-part"],
)
def test_forged_cookies_are_refused(browser: ScimClient, forge: Callable[[str], str]) -> None:
    value = browser.http.cookies[session.COOKIE]
    browser.http.cookies.clear()
    assert browser.http.get("/console/", headers=with_cookie(value)).status_code == 200
    answer = browser.http.get(
        "/console/", headers=with_cookie(forge(value)), follow_redirects=False
    )
    assert answer.status_code == 303


def test_a_session_ends_with_its_token(browser: ScimClient) -> None:
    config.use(config.get().with_overrides(tokens=("the-next-token",)))
    assert browser.http.get("/console/", follow_redirects=False).status_code == 303


def test_an_expired_session_is_refused(browser: ScimClient, monkeypatch: Any) -> None:
    monkeypatch.setattr(session.time, "time", lambda: 2**40)
    assert browser.http.get("/console/", follow_redirects=False).status_code == 303


def test_overview_counts_and_errors(browser: ScimClient) -> None:
    ada = browser.create_user("ada@example.com")
    browser.create_group("Ops", [ada["id"]])
    browser.post("/Users", {"schemas": [USER_SCHEMA], "userName": "ADA@example.com"})
    journal.flush()
    page = browser.http.get("/console/").text
    assert '<dd id="count-users">1</dd>' in page and '<dd id="count-groups">1</dd>' in page
    assert '<dd id="count-memberships">1</dd>' in page
    assert "uniqueness" in page and "/console/requests?client=other&amp;status=409" in page


def test_users_search_and_one_user(browser: ScimClient) -> None:
    seed_users(
        {"schemas": [USER_SCHEMA], "userName": f"user{n:03d}@example.com"} for n in range(60)
    )
    ada = browser.create_user("ada@example.com", displayName="Ada Lovelace")
    group = browser.create_group("Analysts", [ada["id"]])
    found = browser.http.get("/console/users", params={"q": "lovelace"}).text
    assert "ada@example.com" in found and "user000" not in found
    first = browser.http.get("/console/users").text
    assert "page 1 of 2" in first and "next" in first
    page = browser.http.get(f"/console/users/{ada['id']}").text
    assert "Analysts" in page and f"/console/groups/{group['id']}" in page
    assert browser.http.get("/console/users/nobody").status_code == 404


def test_a_big_group_is_paged(browser: ScimClient) -> None:
    ids = seed_users(
        {"schemas": [USER_SCHEMA], "userName": f"m{n:03d}@example.com"} for n in range(120)
    )
    group = browser.create_group("Everyone", ids)
    assert "Everyone" in browser.http.get("/console/groups", params={"q": "every"}).text
    pages = [
        browser.http.get(f"/console/groups/{group['id']}", params={"page": p}).text
        for p in (1, 2, 3)
    ]
    shown = [set(re.findall(r"m\d{3}@example\.com", page)) for page in pages]
    assert [len(s) for s in shown] == [50, 50, 20] and len(set.union(*shown)) == 120
    assert "page 3 of 3" in pages[2]


def test_requests_filtered_and_one_exchange(browser: ScimClient) -> None:
    browser.create_user("ada@example.com", password="never-shown-1")
    browser.post("/Users", {"schemas": [USER_SCHEMA], "userName": "ada@example.com"})
    journal.flush()
    listing = browser.http.get("/console/requests", params={"status": "409"}).text
    (exchange_id,) = re.findall(r'data-exchange="(\d+)"', listing)
    part = browser.http.get(f"/console/requests/{exchange_id}", params={"part": "1"}).text
    assert "&#34;scimType&#34;: &#34;uniqueness&#34;" in part and "<html" not in part
    whole = (
        browser.http.get("/console/requests").text + browser.http.get("/console/requests/1").text
    )
    assert "never-shown-1" not in whole and "[REDACTED]" in whole
    assert browser.http.get("/console/requests/99999").status_code == 404


def test_everything_shown_is_escaped(browser: ScimClient) -> None:
    evil = "<script>alert(1)</script>"
    user = browser.create_user(f"{evil}@example.com", displayName=evil)
    browser.get(f"/Users/{evil}")
    journal.flush()
    for path in [
        "/console/users",
        f"/console/users/{user['id']}",
        "/console/requests",
        "/console/requests/2",
    ]:
        page = browser.http.get(path).text
        assert evil not in page and "&lt;script&gt;" in page, path


def test_search_text_is_a_literal(browser: ScimClient) -> None:
    answer = browser.http.get("/console/users", params={"q": '" or userName pr or "'})
    assert answer.status_code == 200 and "No users match" in answer.text
