"""Which tenant a request belongs to: one customer's users, groups, tokens and limits.

A tenant's SCIM base URL is `<base>/tenants/<name>`; the middleware (app/middleware.py) takes the
prefix off before routing and sets the tenant for the request here. The plain base (`/scim/v2`)
is the default tenant, so single-tenant deployments are unchanged. The store (app/store.py,
app/members.py) reads the tenant from here for every statement: handlers never pass it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from app import errors

DEFAULT = "default"
PREFIX = "/tenants/"
# URL-safe, lower-case, not too long: it is a path segment and part of every row's key.
NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class Tenant:
    """The tenant of a request; `routed` when its URL named it (`/tenants/<name>`)."""

    name: str
    routed: bool = False

    @property
    def url_prefix(self) -> str:
        """What follows the SCIM base path in this request's URLs (`/tenants/acme` or "")."""
        return f"{PREFIX}{self.name}" if self.routed else ""


DEFAULT_TENANT = Tenant(DEFAULT)
_current: ContextVar[Tenant] = ContextVar("tenant", default=DEFAULT_TENANT)


def current() -> Tenant:
    """The tenant of the request being served (the default tenant outside requests)."""
    return _current.get()


def name() -> str:
    """The current tenant's name, as the store scopes its statements by it."""
    return _current.get().name


def enter(tenant: Tenant) -> None:
    """Make `tenant` current for the rest of this request (the middleware calls this)."""
    _current.set(tenant)


@contextmanager
def using(tenant_name: str) -> Iterator[None]:
    """Work as one tenant inside the block (admin commands, seeding, tests)."""
    token = _current.set(Tenant(check_name(tenant_name)))
    try:
        yield
    finally:
        _current.reset(token)


def check_name(text: str) -> str:
    """A valid tenant name, else 400 invalidValue (URL-safe: a-z, 0-9, inner hyphens)."""
    if not NAME.match(text):
        raise errors.InvalidValue(
            f"tenant name {text!r} must be 1-63 lower-case letters, digits and inner hyphens"
        )
    return text


def split_path(path: str, base: str) -> tuple[Tenant, str] | None:
    """(tenant, path without its prefix) for `<base>/tenants/<name>/...`, else None."""
    head = base + PREFIX
    if not path.startswith(head):
        return None
    tenant_name, slash, rest = path[len(head) :].partition("/")
    if not NAME.match(tenant_name):
        return None
    return Tenant(tenant_name, routed=True), base + slash + rest
