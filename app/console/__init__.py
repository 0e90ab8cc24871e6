"""The console: a few server-rendered pages at /console to see what identity providers did.

Sign in with a SCIM token (app/console/session.py); then the overview, users and groups (read
through app/store.py and app/members.py), and the journal of exchanges (app/journal.py).
Templates are Jinja2 with autoescaping; the stylesheet and the one small script are inlined
with a per-response nonce, so the Content-Security-Policy allows nothing else and the
console loads nothing from anywhere.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from app.console import session

HERE = Path(__file__).parent
_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_STYLE = (HERE / "static" / "console.css").read_text()
_SCRIPT = (HERE / "static" / "console.js").read_text()
Page = Callable[[Request], Awaitable[Response]]


def app() -> Starlette:
    """The console's routes, mounted at /console by app/site.py."""
    from app.console import pages

    return Starlette(
        routes=[
            Route("/", pages.overview),
            Route("/login", pages.login_form, methods=["GET"]),
            Route("/login", pages.login, methods=["POST"]),
            Route("/logout", pages.logout, methods=["POST"]),
            Route("/users", pages.users),
            Route("/users/{user_id}", pages.user),
            Route("/groups", pages.groups),
            Route("/groups/{group_id}", pages.group),
            Route("/requests", pages.requests),
            Route("/requests/{exchange_id:int}", pages.exchange),
        ]
    )


def signed_in(page: Page) -> Page:
    """Only for a valid session: a page is otherwise the sign-in form (a redirect), and any
    other method 401."""

    @wraps(page)
    async def guarded(request: Request) -> Response:
        cookie = request.cookies.get(session.COOKIE)
        found = session.verify(cookie) if cookie else None
        if found is None:
            if request.method in ("GET", "HEAD"):
                return RedirectResponse("/console/login", status_code=303)
            return PlainTextResponse("Sign in first", status_code=401)
        request.state.session = found
        return await page(request)

    return guarded


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A template as a page, with the headers every console page carries."""
    nonce = secrets.token_urlsafe(16)
    signed = getattr(request.state, "session", None)
    html = _templates.get_template(name).render(
        nonce=nonce,
        style=_STYLE,
        script=_SCRIPT,
        csrf=signed.csrf if signed else "",
        signed_in=signed is not None,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=headers(nonce))


def headers(nonce: str) -> dict[str, str]:
    """No caching, no framing, nothing loaded but this page's own style and script."""
    policy = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}';"
        " connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none';"
        " frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "Cache-Control": "no-store",
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }
