"""Console sessions: a signed, self-contained cookie that every worker can check.

The cookie is `<session id>.<expiry>.<token fingerprint>.<signature>`, signed with HMAC-SHA256
under a secret kept beside the database (`<database>.secret`, created once, mode 0600), so
any worker accepts a session another one issued. The fingerprint names the SCIM token used to
sign in: when that token is taken out of SCIM_TOKEN, its sessions end too. Signing out
records the session id in the journal file until it would have expired. Forms that change
state carry a CSRF token derived from the session id; the cookie is HttpOnly and
SameSite=Strict, and Secure behind HTTPS.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from functools import cache

from app import config, journal

COOKIE = "scim_console"
SECONDS = 8 * 3600  # a working day; then sign in again


@dataclass(frozen=True)
class Session:
    """A signed-in browser: its session id, when it ends, and its forms' CSRF token."""

    id: str
    expires: int
    csrf: str


def issue(token: str) -> tuple[str, Session]:
    """A new session for someone who gave this (accepted) SCIM token: (cookie value, session)."""
    session_id = secrets.token_urlsafe(18)
    expires = int(time.time()) + SECONDS
    payload = f"{session_id}.{expires}.{_fingerprint(token)}"
    return f"{payload}.{_sign(payload)}", Session(session_id, expires, _csrf(session_id))


def verify(value: str) -> Session | None:
    """The session a cookie stands for, or None if it is forged, expired, signed out, or its
    token is no longer accepted."""
    parts = value.split(".")
    if len(parts) != 4:
        return None
    session_id, expires, fingerprint, signature = parts
    if not hmac.compare_digest(signature, _sign(f"{session_id}.{expires}.{fingerprint}")):
        return None
    if not expires.isdigit() or int(expires) < time.time():
        return None
    known = [_fingerprint(token) for token in config.get().tokens]
    if not any(hmac.compare_digest(fingerprint, found) for found in known):
        return None
    if journal.signed_out(session_id):
        return None
    return Session(session_id, int(expires), _csrf(session_id))


def csrf_matches(session: Session, sent: str) -> bool:
    """Whether a form's CSRF token is this session's."""
    return hmac.compare_digest(session.csrf.encode(), sent.encode())


def _fingerprint(token: str) -> str:
    return _sign("token:" + token)[:16]


def _csrf(session_id: str) -> str:
    return _sign("csrf:" + session_id)


def _sign(text: str) -> str:
    return hmac.new(_secret(config.get().db_path), text.encode(), hashlib.sha256).hexdigest()


@cache
def _secret(db_path: str) -> bytes:
    """The signing secret beside a database, created on first use (workers may race: the
    file is created exclusively and the losers read the winner's). With PostgreSQL it is a
    file of this host, beside its journal: console sessions, like the journal the console
    shows, are per host."""
    path = (journal.path_for(db_path) if config.is_postgres(db_path) else db_path) + ".secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    secret = secrets.token_hex(32)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret.encode()


def _read(path: str) -> bytes:
    for _ in range(50):  # the winner of the race may not have written yet
        with contextlib.suppress(FileNotFoundError), open(path) as f:
            secret = f.read().strip()
            if secret:
                return secret.encode()
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty; delete it (console sessions will end)")
