"""Bearer-token check, called by Connexion for every secured operation."""

from __future__ import annotations

import hmac

from app import config


def token_info(token: str) -> dict[str, str] | None:
    """Accept the token if it equals a configured one (constant-time); None means 401."""
    candidate = token.encode()
    matched = False
    for known in config.get().tokens:
        # No early exit: every configured token is compared, matching or not.
        matched |= hmac.compare_digest(candidate, known.encode())
    return {"sub": "scim-client"} if matched else None


def events_token_info(token: str) -> dict[str, str] | None:
    """The poll endpoint's check: SCIM_EVENTS_TOKEN only, never an IdP's token (and the
    IdP's check above never accepts this one: app/events.py `check` keeps them apart)."""
    known = config.get().events_token
    if known and hmac.compare_digest(token.encode(), known.encode()):
        return {"sub": "events-receiver"}
    return None
