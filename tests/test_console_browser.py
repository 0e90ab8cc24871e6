"""The console in a real browser: Chromium (Debian's package) driven by Playwright against a
real server. Sign in, see a user the test created through the API, open the 409 exchange the
test provoked and see its body, never see the password, sign out and be refused.

A screenshot of each page is saved in reports/console/<page>.png (reports/ is not committed).
Playwright's own browser downloads are not used: it launches /usr/bin/chromium, which
`make test-all` installs when missing (`make chromium`). Without it this test is skipped, and
says so.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.served import ROOT, Served, serve

pytestmark = pytest.mark.slow  # starts gunicorn and a browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
SHOTS = ROOT / "reports" / "console"
PASSWORD = "Browser-Pa55word-7"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
OKTA = {"User-Agent": "Okta SCIM Client 1.0.0"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium under Playwright, or a skip that says what is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: `make chromium` installs it")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("console")) as served:
        yield served


def provision(server: Served) -> dict[str, Any]:
    """What Okta would do: create a user (with a password) and a group, then push the user
    again, which the server refuses with 409."""
    body = {"schemas": [USER_SCHEMA], "userName": "ada.lovelace@example.com",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "displayName": "Ada Lovelace", "password": PASSWORD, "active": True}  # fmt: skip
    headers = server.auth | OKTA
    created = httpx.post(f"{server.base}/Users", json=body, headers=headers)
    assert created.status_code == 201, created.text
    user = created.json()
    group = {"schemas": [GROUP_SCHEMA], "displayName": "Analytical Engine",
             "members": [{"value": user["id"]}]}  # fmt: skip
    assert httpx.post(f"{server.base}/Groups", json=group, headers=headers).status_code == 201
    again = httpx.post(f"{server.base}/Users", json=body, headers=headers)
    assert again.status_code == 409
    return dict(user)


def shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert PASSWORD not in page.content(), f"the password shows on {name}"


def test_console_in_a_browser(browser: Any, server: Served) -> None:
    user = provision(server)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)

    page.goto(f"{server.root}/console/")
    assert page.url.endswith("/console/login")
    page.fill("#token", "not-the-token")
    page.click("button[type=submit]")
    assert page.locator("p.error").inner_text() == "That token is not accepted."
    shoot(page, "sign-in")

    page.fill("#token", server.token)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")
    assert page.inner_text("#count-users") == "1" and page.inner_text("#count-groups") == "1"
    cookie = next(c for c in context.cookies() if c["name"] == "scim_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    shoot(page, "overview")

    page.click("nav >> text=Users")
    page.fill("input[name=q]", "lovelace")
    page.click("form.search button")
    page.click("text=ada.lovelace@example.com")
    page.wait_for_url(f"**/console/users/{user['id']}")
    assert "Analytical Engine" in page.inner_text("main")
    shoot(page, "user")

    page.click("text=Analytical Engine")
    assert "ada.lovelace@example.com" in page.inner_text(
        "main"
    ) or "Ada Lovelace" in page.inner_text("main")
    shoot(page, "group")

    conflict = _open_exchange(page, server, "409")
    assert '"scimType": "uniqueness"' in conflict and "already taken" in conflict
    shoot(page, "requests")
    created = _open_exchange(page, server, "201", path="/scim/v2/Users")
    assert '"password": "[REDACTED]"' in created
    shoot(page, "request-created")

    page.click("header button:has-text('Sign out')")
    page.wait_for_url("**/console/login")
    page.goto(f"{server.root}/console/requests")
    assert page.url.endswith("/console/login")
    shoot(page, "signed-out")
    context.close()


def _open_exchange(page: Any, server: Served, status: str, path: str = "") -> str:
    """The requests page filtered by status (and path), its newest exchange opened; returns
    the request and response the row shows once opened. The journal is written in batches:
    the page is reloaded until the exchange is there."""
    url = f"{server.root}/console/requests?status={status}&path={path}"
    for _ in range(40):
        page.goto(url)
        if page.locator("details[data-exchange]").count():
            break
        time.sleep(0.25)
    row = page.locator("details[data-exchange]").first
    row.locator("summary").click()
    row.locator(".response-body").wait_for()
    return str(row.locator(".exchange").inner_text())
