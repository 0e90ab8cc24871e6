"""Settings, read once from the environment."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit


@dataclass(frozen=True)
class Settings:
    """Everything the server can be told, with its embedded defaults."""

    db_path: str = "scim.db"  # a SQLite file, or a postgresql:// URL (is_postgres)
    tokens: tuple[str, ...] = ()
    token_file: str = ".scim-token"
    max_body_bytes: int = 8 * 1024 * 1024
    max_results: int = 1000
    default_count: int = 100
    base_url: str | None = None
    patch_returns_members_up_to: int = 1000
    validate_responses: bool = False
    max_json_depth: int = 64
    max_patch_values: int = 10_000
    request_deadline_seconds: float = 10.0
    synchronous: str = "FULL"
    tenant_rate_limit: float = 0.0  # requests per second per tenant; 0: no limit
    workers: int = 1  # gunicorn worker processes (app/rates.py divides a tenant's rate by it)
    bulk_max_operations: int = 1000
    bulk_max_payload_bytes: int | None = None  # None: max_body_bytes
    schemas_dir: str | None = None  # declared schema extensions (app/extensions.py)
    undeclared_extensions: str = "keep"  # keep, ignore or reject (app/values.py)
    # Seeing what clients did (README.md, "Seeing what the identity provider did").
    log_format: str = "text"
    journal_size: int = 10_000
    journal_path: str | None = None  # None: <db_path>.journal, or scim.journal for PostgreSQL
    metrics_access: str = "token"
    # Security events (README.md, "Events"): recorded while a poll token or a push URL is set.
    events_token: str | None = None
    events_push_urls: tuple[str, ...] = ()
    events_mode: str = "full"
    events_secret: str | None = None
    events_key_file: str | None = None
    events_alg: str | None = None  # None: HS256 with a secret, RS256/ES256 from the key file
    events_key_id: str | None = None  # None: the key's RFC 7638 thumbprint
    events_issuer: str | None = None  # None: the SCIM base URL
    events_audience: tuple[str, ...] = ()
    events_long_poll_seconds: float = 20.0
    events_redeliver_seconds: float = 30.0
    events_retention_seconds: float = 7 * 24 * 3600.0
    events_max_pending: int = 100_000
    events_push_timeout_seconds: float = 5.0
    events_push_backoff_seconds: float = 1.0
    events_push_max_backoff_seconds: float = 300.0

    @property
    def bulk_payload_limit(self) -> int:
        """/Bulk's maxPayloadSize: never above max_body_bytes, which refuses a body first."""
        return min(self.bulk_max_payload_bytes or self.max_body_bytes, self.max_body_bytes)

    @property
    def events_on(self) -> bool:
        """Whether writes record events: a receiver can take them (poll token or push URL)."""
        return bool(self.events_token or self.events_push_urls)

    def with_overrides(self, **overrides: object) -> Settings:
        """A copy with some settings changed (tests use this)."""
        return replace(self, **overrides)  # type: ignore[arg-type]


def from_env(environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from SCIM_* variables; see the README's Configuration table."""
    defaults = Settings()
    tokens = tuple(t.strip() for t in environ.get("SCIM_TOKEN", "").split(",") if t.strip())
    return Settings(
        db_path=environ.get("SCIM_DB", defaults.db_path),
        tokens=tokens,
        token_file=environ.get("SCIM_TOKEN_FILE", defaults.token_file),
        max_body_bytes=int(environ.get("SCIM_MAX_BODY_BYTES", defaults.max_body_bytes)),
        max_results=int(environ.get("SCIM_MAX_RESULTS", defaults.max_results)),
        default_count=int(environ.get("SCIM_DEFAULT_COUNT", defaults.default_count)),
        base_url=environ.get("SCIM_BASE_URL") or None,
        patch_returns_members_up_to=int(
            environ.get("SCIM_PATCH_RETURNS_MEMBERS_UP_TO", defaults.patch_returns_members_up_to)
        ),
        max_json_depth=int(environ.get("SCIM_MAX_JSON_DEPTH", defaults.max_json_depth)),
        max_patch_values=int(environ.get("SCIM_MAX_PATCH_VALUES", defaults.max_patch_values)),
        request_deadline_seconds=float(
            environ.get("SCIM_REQUEST_DEADLINE_SECONDS", defaults.request_deadline_seconds)
        ),
        synchronous=synchronous(environ.get("SCIM_SYNCHRONOUS", defaults.synchronous)),
        tenant_rate_limit=float(environ.get("SCIM_TENANT_RATE_LIMIT", defaults.tenant_rate_limit)),
        workers=int(environ.get("SCIM_WORKERS", defaults.workers)),
        bulk_max_operations=int(
            environ.get("SCIM_BULK_MAX_OPERATIONS", defaults.bulk_max_operations)
        ),
        bulk_max_payload_bytes=int(environ.get("SCIM_BULK_MAX_PAYLOAD_BYTES", 0)) or None,
        schemas_dir=environ.get("SCIM_SCHEMAS_DIR") or None,
        undeclared_extensions=undeclared(
            environ.get("SCIM_UNDECLARED_EXTENSIONS", defaults.undeclared_extensions)
        ),
        log_format=choice("SCIM_LOG_FORMAT", environ.get("SCIM_LOG_FORMAT", "text"), LOG_FORMATS),
        journal_path=environ.get("SCIM_JOURNAL") or None,
        journal_size=max(int(environ.get("SCIM_JOURNAL_SIZE", defaults.journal_size)), 0),
        metrics_access=choice("SCIM_METRICS", environ.get("SCIM_METRICS", "token"), METRICS),
        **_events_from_env(environ, defaults),
    )


LOG_FORMATS = ("text", "json", "off")  # SCIM_LOG_FORMAT: the access log's lines, or none
METRICS = ("token", "open")  # SCIM_METRICS: /metrics wants a SCIM token, or is open


def is_postgres(db: str) -> bool:
    """Whether SCIM_DB names a PostgreSQL server (a postgresql:// URL) rather than a SQLite file."""
    return db.startswith(("postgresql://", "postgres://"))


def shown_db(db: str) -> str:
    """SCIM_DB as printed: a SQLite file's absolute path, a PostgreSQL URL without its password."""
    if not is_postgres(db):
        return os.path.abspath(db)
    parts = urlsplit(db)
    if parts.password is None:
        return db
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    """A setting that must be one of a few words (any letter case)."""
    word = value.strip().lower()
    if word not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return word


def _events_from_env(environ: Mapping[str, str], defaults: Settings) -> dict[str, Any]:
    """The SCIM_EVENTS_* settings (README.md, "Events")."""

    def number(name: str, default: float) -> float:
        return float(environ.get(f"SCIM_EVENTS_{name}", default))

    mode = environ.get("SCIM_EVENTS_MODE", defaults.events_mode).strip().lower()
    if mode not in EVENT_MODES:
        raise ValueError(f"SCIM_EVENTS_MODE must be one of {', '.join(EVENT_MODES)}, not {mode!r}")
    alg = environ.get("SCIM_EVENTS_ALG") or None
    if alg is not None and alg not in EVENT_ALGORITHMS:
        raise ValueError(f"SCIM_EVENTS_ALG must be one of {', '.join(EVENT_ALGORITHMS)}")
    d = defaults
    return {
        "events_token": environ.get("SCIM_EVENTS_TOKEN") or None,
        "events_push_urls": _listed(environ.get("SCIM_EVENTS_PUSH_URLS", "")),
        "events_mode": mode,
        "events_secret": environ.get("SCIM_EVENTS_SECRET") or None,
        "events_key_file": environ.get("SCIM_EVENTS_KEY_FILE") or None,
        "events_alg": alg,
        "events_key_id": environ.get("SCIM_EVENTS_KEY_ID") or None,
        "events_issuer": environ.get("SCIM_EVENTS_ISSUER") or None,
        "events_audience": _listed(environ.get("SCIM_EVENTS_AUDIENCE", "")),
        "events_long_poll_seconds": number("LONG_POLL_SECONDS", d.events_long_poll_seconds),
        "events_redeliver_seconds": number("REDELIVER_SECONDS", d.events_redeliver_seconds),
        "events_retention_seconds": number("RETENTION_SECONDS", d.events_retention_seconds),
        "events_max_pending": int(number("MAX_PENDING", d.events_max_pending)),
        "events_push_timeout_seconds": number(
            "PUSH_TIMEOUT_SECONDS", d.events_push_timeout_seconds
        ),
        "events_push_backoff_seconds": number(
            "PUSH_BACKOFF_SECONDS", d.events_push_backoff_seconds
        ),
        "events_push_max_backoff_seconds": number(
            "PUSH_MAX_BACKOFF_SECONDS", d.events_push_max_backoff_seconds
        ),
    }


def _listed(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


# RFC 9967 §2.3: `full` events carry the data, `notice` events the changed attribute names.
EVENT_MODES = ("full", "notice")
# The JWS algorithms a SET may be signed with; "none" only when asked for by name.
EVENT_ALGORITHMS = ("HS256", "RS256", "ES256", "none")


# SQLite's `PRAGMA synchronous` levels this server allows, in WAL mode (README.md, "Durability"):
# FULL syncs the WAL on every commit, so an acknowledged write survives a power loss; NORMAL
# syncs only at checkpoints and may lose the last commits then (never the database's integrity).
SYNCHRONOUS = ("FULL", "NORMAL", "EXTRA")


def synchronous(value: str) -> str:
    """SCIM_SYNCHRONOUS checked against SYNCHRONOUS (it is formatted into a PRAGMA)."""
    level = value.strip().upper()
    if level not in SYNCHRONOUS:
        raise ValueError(f"SCIM_SYNCHRONOUS must be one of {', '.join(SYNCHRONOUS)}, not {value!r}")
    return level


# What a body's object under an extension URN no document declares becomes (README.md,
# "Schema extensions"): kept and returned as sent, left out, or refused with 400.
UNDECLARED = ("keep", "ignore", "reject")


def undeclared(value: str) -> str:
    """SCIM_UNDECLARED_EXTENSIONS checked against UNDECLARED."""
    policy = value.strip().lower()
    if policy not in UNDECLARED:
        raise ValueError(
            f"SCIM_UNDECLARED_EXTENSIONS must be one of {', '.join(UNDECLARED)}, not {value!r}"
        )
    return policy


def ensure_token(settings: Settings) -> tuple[Settings, bool]:
    """Settings with at least one token: from SCIM_TOKEN, else the token file, else a new one.

    Returns the settings and whether a token was generated. Several workers may race here:
    the file is created exclusively, and the losers read the winner's token.
    """
    if settings.tokens:
        return settings, False
    generated = False
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(settings.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token = _read_token(settings.token_file)
    else:
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        generated = True
    return settings.with_overrides(tokens=(token,)), generated


def _read_token(path: str) -> str:
    for _ in range(50):  # the winner of the race may not have written yet
        with contextlib.suppress(FileNotFoundError), open(path) as f:
            token = f.read().strip()
            if token:
                return token
        time.sleep(0.02)
    raise RuntimeError(f"token file {path} is empty; delete it or set SCIM_TOKEN")


_current: Settings | None = None


def use(settings: Settings) -> None:
    """Make these the settings every module sees (called by app.main.create_app)."""
    global _current
    _current = settings


def get() -> Settings:
    """The settings in force."""
    if _current is None:
        use(from_env())
    assert _current is not None
    return _current
