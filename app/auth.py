"""Bearer-token check, called by Connexion for every secured operation.

A token opens one tenant only (app/tenancy.py): `SCIM_TOKEN`'s tokens the default tenant, a
tenant's own tokens (app/tenant_store.py) that tenant. A token used on another tenant's URL is
refused exactly like an unknown one, so a 401 says nothing about which tenants exist.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from connexion.exceptions import OAuthProblem, OAuthResponseProblem
from connexion.security import NO_VALUE, BearerSecurityHandler

from app import config, tenancy, tenant_store


def token_info(token: str) -> dict[str, str] | None:
    """The token's claims if it opens the request's tenant; None means 401."""
    tenant = tenancy.name()
    if tenant == tenancy.DEFAULT and _configured(token):
        return {"sub": "scim-client", "tenant": tenant}
    owner = tenant_store.tenant_of(token)
    if owner is not None and hmac.compare_digest(owner.encode(), tenant.encode()):
        return {"sub": "scim-client", "tenant": tenant}
    return None


def _configured(token: str) -> bool:
    """Whether the token equals one of SCIM_TOKEN's (constant-time)."""
    candidate = token.encode()
    matched = False
    for known in config.get().tokens:
        # No early exit: every configured token is compared, matching or not.
        matched |= hmac.compare_digest(candidate, known.encode())
    return matched


def events_token_info(token: str) -> dict[str, str] | None:
    """The poll endpoint's check: SCIM_EVENTS_TOKEN only, never an IdP's token (and the
    IdP's check above never accepts this one: app/events.py `check` keeps them apart). It opens
    the poll of every tenant that exists: the receiver is the vendor's app, not a tenant's."""
    known = config.get().events_token
    if not known or not hmac.compare_digest(token.encode(), known.encode()):
        return None
    tenant = tenancy.name()
    if tenant != tenancy.DEFAULT and not tenant_store.exists(tenant):
        return None  # as for the IdP's tokens: an unknown tenant's URL is a 401
    return {"sub": "events-receiver", "tenant": tenant}


class BearerCheck(BearerSecurityHandler):
    """Connexion's bearer scheme with its per-request generality taken out: our token
    functions take the token alone, so the check calls them directly instead of inspecting
    their signatures on every request (two `inspect.signature` calls). Same answers: no or
    another scheme is "no value" (401 "No authorization token provided"), a refused token is
    401 "Provided token is not valid". Registered in app/main.py (`security_map`)."""

    def _get_verify_func(self, token_info_func: Callable[[str], Any]) -> Callable[[Any], Any]:
        def verify(request: Any) -> Any:
            authorization = request.headers.get("Authorization")
            if not authorization:
                return NO_VALUE
            parts = authorization.split(maxsplit=1)
            if len(parts) != 2:
                raise OAuthProblem(detail="Invalid authorization header")
            scheme, token = parts
            if scheme.lower() != "bearer":
                return NO_VALUE
            found = token_info_func(token)
            if found is None:
                raise OAuthResponseProblem(detail="Provided token is not valid")
            return found

        return verify
