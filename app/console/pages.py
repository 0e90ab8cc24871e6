"""The console's pages: sign-in and sign-out, overview, users, groups, the journal."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app import auth, config, deadline, errors, filters, journal, members, query, store
from app.console import render, session, signed_in
from app.resources import GROUP, USER, ResourceType

PAGE = 50  # rows per page of every list
CLIENTS = ("okta", "entra", "other")
_FORM_BYTES = 8192


async def login_form(request: Request) -> Response:
    """GET /console/login: the sign-in form."""
    return render(request, "login.html", error=None)


async def login(request: Request) -> Response:
    """POST /console/login: a SCIM token in, a session cookie out; a wrong token gets the
    form again."""
    form = await _form(request)
    if form is None:
        return Response("Forbidden", status_code=403)
    token = form.get("token", "").strip()
    if not token or auth.token_info(token) is None:
        return render(request, "login.html", status=401, error="That token is not accepted.")
    cookie, _ = session.issue(token)
    response = RedirectResponse("/console/", status_code=303)
    response.set_cookie(
        session.COOKIE, cookie, max_age=session.SECONDS, path="/console",
        secure=_https(request), httponly=True, samesite="strict",
    )  # fmt: skip
    return response


@signed_in
async def logout(request: Request) -> Response:
    """POST /console/logout (with the session's CSRF token): the session ends everywhere."""
    form = await _form(request)
    signed: session.Session = request.state.session
    if form is None or not session.csrf_matches(signed, form.get("csrf", "")):
        return Response("Forbidden: a stale or foreign form", status_code=403)
    journal.sign_out(signed.id, signed.expires)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(session.COOKIE, path="/console", secure=_https(request), httponly=True)
    return response


@signed_in
async def overview(request: Request) -> Response:
    """GET /console/: counts, the last hour's requests by client and status, the last errors."""
    counts = _guarded(lambda: {
        "users": store.search(USER, None, {}, None, 0, 0)[0],
        "groups": store.search(GROUP, None, {}, None, 0, 0)[0],
        "memberships": members.count(),
    })  # fmt: skip
    hour = journal.since(time.time() - 3600)
    statuses = sorted({status for _, status, _ in hour})
    table = {c: {s: n for client, s, n in hour if client == c} for c in CLIENTS}
    _, last_errors = journal.search(journal.Wanted(status="error"), 10, 0)
    return render(
        request, "overview.html", nav="overview", counts=counts, statuses=statuses,
        table=table, errors=last_errors, journal_on=config.get().journal_size > 0,
    )  # fmt: skip


@signed_in
async def users(request: Request) -> Response:
    """GET /console/users: users whose userName or displayName contains `q`, a page at a time."""
    return _listing(request, USER, "users.html", ("userName", "displayName"))


@signed_in
async def groups(request: Request) -> Response:
    """GET /console/groups: groups whose displayName contains `q`, a page at a time."""
    return _listing(request, GROUP, "groups.html", ("displayName",))


def _listing(
    request: Request, resource_type: ResourceType, template: str, searched: tuple[str, ...]
) -> Response:
    q = request.query_params.get("q", "").strip()[:200]
    page = _page(request)
    literal = json.dumps(q, ensure_ascii=False)
    text = " or ".join(f"{name} co {literal}" for name in searched) if q else None
    try:
        node = filters.parse(text) if text else None
        compiled = query.compile(resource_type, node, searched[0], "ascending")
        total, rows = _guarded(
            lambda: store.search(
                resource_type, compiled.where, compiled.params, compiled.order_by,
                PAGE, (page - 1) * PAGE,
            )
        )  # fmt: skip
        problem = None
    except errors.ScimError as exc:
        total, rows, problem = 0, [], str(exc.detail)
    return render(
        request, template, nav=resource_type.name.lower() + "s", q=q, page=page,
        total=total, rows=rows, pages=_pages(total), problem=problem,
    )  # fmt: skip


@signed_in
async def user(request: Request) -> Response:
    """GET /console/users/{id}: one user, its stored attributes and its groups."""
    user_id = request.path_params["user_id"]
    row = _found(USER, user_id)
    if row is None:
        return render(request, "missing.html", status=404, nav="users", what=f"User {user_id}")
    found = members.groups_of([user_id])[user_id]
    return render(request, "user.html", nav="users", row=row, groups=found, pretty=_pretty_row(row))


@signed_in
async def group(request: Request) -> Response:
    """GET /console/groups/{id}: one group and a page of its members."""
    group_id = request.path_params["group_id"]
    row = _found(GROUP, group_id)
    if row is None:
        return render(request, "missing.html", status=404, nav="groups", what=f"Group {group_id}")
    page = _page(request)
    total, found = _guarded(lambda: members.page_of(group_id, PAGE, (page - 1) * PAGE))
    return render(
        request, "group.html", nav="groups", row=row, members=found, total=total, page=page,
        pages=_pages(total), pretty=_pretty_row(row),
    )  # fmt: skip


@signed_in
async def requests(request: Request) -> Response:
    """GET /console/requests: the journal, newest first, filtered by status, client, path."""
    params = request.query_params
    wanted = journal.Wanted(
        status=params.get("status", "")[:8],
        client=params.get("client", "") if params.get("client") in CLIENTS else "",
        path=params.get("path", "")[:200],
    )
    page = _page(request)
    total, entries = journal.search(wanted, PAGE, (page - 1) * PAGE)
    return render(
        request, "requests.html", nav="requests", wanted=wanted, clients=CLIENTS,
        entries=entries, total=total, page=page, pages=_pages(total),
        journal_on=config.get().journal_size > 0,
    )  # fmt: skip


@signed_in
async def exchange(request: Request) -> Response:
    """GET /console/requests/{id}: one exchange, bodies pretty-printed (`?part=1`: only the
    part the requests page shows when a row is opened)."""
    entry = journal.get(request.path_params["exchange_id"])
    if entry is None:
        return render(request, "missing.html", status=404, nav="requests", what="That exchange")
    template = "exchange_part.html" if request.query_params.get("part") else "exchange.html"
    return render(
        request, template, nav="requests", entry=entry,
        request_body=pretty(entry.request_body), response_body=pretty(entry.response_body),
    )  # fmt: skip


def pretty(text: str) -> str:
    """JSON indented for reading; anything else (a cut body, a note) as it is."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _pretty_row(row: store.Row) -> str:
    return json.dumps({"id": row.id, **row.resource}, indent=2, ensure_ascii=False)


def _found(resource_type: ResourceType, resource_id: str) -> store.Row | None:
    try:
        row: store.Row = _guarded(lambda: store.fetch(resource_type, resource_id))
    except errors.NotFound:
        return None
    return row


def _guarded(read: Any) -> Any:
    """A read under the request deadline (SCIM_REQUEST_DEADLINE_SECONDS), as SCIM reads are."""
    deadline.start(config.get().request_deadline_seconds)
    try:
        return read()
    except sqlite3.OperationalError as exc:
        raise errors.ScimError(f"The database did not answer in time: {exc}") from exc


def _page(request: Request) -> int:
    value = request.query_params.get("page", "1")
    return max(int(value), 1) if value.isdigit() and len(value) < 9 else 1


def _pages(total: int) -> int:
    return max((total + PAGE - 1) // PAGE, 1)


def _https(request: Request) -> bool:
    base = config.get().base_url or ""
    return request.url.scheme == "https" or base.startswith("https://")


async def _form(request: Request) -> dict[str, str] | None:
    """A small urlencoded form from this site, or None (another origin, or too large)."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
        return None
    body = await request.body()
    if len(body) > _FORM_BYTES:
        return None
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}
