"""Salted password hashes. Passwords are write-only (RFC 7643 §4.1.1) and never returned."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# scrypt cost: N=2**14, r=8, p=1 (16 MiB, tens of ms). Stored as scrypt$N$r$p$salt$hash.
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """A new salted scrypt hash of the password."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    encoded = [base64.b64encode(part).decode() for part in (salt, digest)]
    return f"scrypt${_N}${_R}${_P}${encoded[0]}${encoded[1]}"


def verify(password: str, stored: str) -> bool:
    """Whether the password matches a hash made by hash_password."""
    _, n, r, p, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(candidate, base64.b64decode(digest))
