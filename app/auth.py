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
