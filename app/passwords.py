"""Salted password hashes. Passwords are write-only (RFC 7643 §4.1.1) and never returned."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

# scrypt cost: N=2**14, r=8, p=1 (16 MiB, tens of ms). Stored as scrypt$N$r$p$salt$hash.
_N, _R, _P = 2**14, 8, 1
_HASHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="password-hash")


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


async def hash_off_loop(password: object) -> str | None:
    """hash_password in this worker's hashing thread; None for no (or an empty) password."""
    if not password:
        return None
    # scrypt takes tens of milliseconds: off the event loop, outside any transaction, in one
    # thread per worker so that concurrent creates queue instead of each holding 16 MiB.
    return await asyncio.get_running_loop().run_in_executor(_HASHER, hash_password, str(password))


async def hash_all(passwords: Iterable[str]) -> dict[str, str]:
    """Each distinct non-empty password with its hash, computed as hash_off_loop does."""
    hashes = {}
    for password in dict.fromkeys(passwords):
        hashed = await hash_off_loop(password)
        if hashed is not None:
            hashes[password] = hashed
    return hashes
