"""Shared fixtures: a fresh database per test and the Connexion test client with response validation."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from app import config, database, spec, store
from app.main import create_app
from app.resources import USER
from app.values import clean, normalize_primary
from tests import backends

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BASE = "/scim/v2"
SAMPLES = Path(__file__).parent / "samples"
EXAMPLES = str(Path(__file__).parent.parent / "examples" / "schemas")  # SCIM_SCHEMAS_DIR
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimClient:
    """The test client with the token, the base path and SCIM JSON bodies filled in."""

    def __init__(self, client: TestClient) -> None:
        self.http = client

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        sent = {**AUTH, **(headers or {})}
        if body is not None:
            sent.setdefault("Content-Type", "application/scim+json")
            kwargs["content"] = json.dumps(body)
        return self.http.request(method, BASE + path, headers=sent, **kwargs)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> Any:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> Any:
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, operations: list[dict[str, Any]], **kw: Any) -> Any:
        return self.request(
            "PATCH", path, {"schemas": [PATCH_SCHEMA], "Operations": operations}, **kw
        )

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def create_user(self, userName: str, **attributes: Any) -> dict[str, Any]:
        body = {"schemas": [USER_SCHEMA], "userName": userName, "active": True, **attributes}
        response = self.post("/Users", body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def create_group(self, display_name: str, members: list[str] | None = None) -> dict[str, Any]:
        body = {
            "schemas": [GROUP_SCHEMA],
            "displayName": display_name,
            "members": [{"value": m} for m in members or []],
        }
        response = self.post("/Groups", body)
        assert response.status_code == 201, response.text
        return dict(response.json())


# Hypothesis profiles, the one place they are set: `fast` for `make test`, `thorough` for
# `make test-slow` (HYPOTHESIS_PROFILE=thorough). Tests set only what is theirs (deadline=None).
_SHARED = {
    "derandomize": True,
    "database": None,
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
settings.register_profile("fast", max_examples=100, **_SHARED)
settings.register_profile("thorough", max_examples=500, **_SHARED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


# One Connexion app for the whole run (loading the spec is the slow part); each test points the
# settings at a database of its own.
APP = create_app(
    db_path=str(Path(tempfile.mkdtemp()) / "startup.db"), tokens=(TOKEN,), validate_responses=True
)


@cache
def migrated_template() -> str:
    """A database file with every migration applied, checkpointed and closed: each test's
    database starts as a copy of it (about 1 ms, against 12 ms to migrate a new file). Migrating
    is tested where it matters: upgrades of old files in test_tenants.py and test_query.py, and
    new files in every test that starts a server (tests/served.py)."""
    path = str(Path(tempfile.mkdtemp()) / "template.db")
    opened = database.open_database(path)
    opened.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    opened.conn.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] > 0
    return path


@cache
def app_for(schemas_dir: str) -> Any:
    """A Connexion app built for a SCIM_SCHEMAS_DIR: its published spec (routes, validation)
    has that directory's declarations. Built once per directory; `make_client(app=...)` points
    the settings at the directory for each test (the shared APP has the base spec only)."""
    saved = config.get()
    built = create_app(
        db_path=str(Path(tempfile.mkdtemp()) / "startup.db"),
        tokens=(TOKEN,),
        validate_responses=True,
        schemas_dir=schemas_dir,
    )
    config.use(saved)
    return built


# Every operation in the spec must be called by some test (with response validation on): the
# test client records what it calls, and a full run fails if an operation was never called.
CALLED: set[tuple[str, str]] = set()


class Recorder:
    """ASGI wrapper noting (method, path template) of every request the tests send."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            found = spec.match(scope["path"])
            if found is not None:
                CALLED.add((scope["method"], found[0]))
        await self.app(scope, receive, send)


def spec_operations() -> set[tuple[str, str]]:
    """(METHOD, full path template) of every operation in the spec."""
    return {
        (method.upper(), spec.base_path() + template)
        for template, item in spec.document()["paths"].items()
        for method in item
        if method in spec.METHODS
    }


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """On a run of the whole suite, fail if a spec operation was never called by a test.
    Under pytest-xdist (`make test`) each worker hands its calls to the controller, which checks."""
    handed = getattr(session.config, "workeroutput", None)
    if handed is not None:
        handed["called"] = sorted(CALLED)
        return
    marks = session.config.option.markexpr
    only_postgres = "postgres" in marks and "not postgres" not in marks
    whole_run = (
        not session.config.option.keyword
        and session.config.args in ([], ["tests"])
        and not only_postgres
    )
    if not whole_run or exitstatus != 0:
        return
    missing = sorted(spec_operations() - CALLED)
    if missing:
        names = ", ".join(f"{method} {path}" for method, path in missing)
        print(f"\nNo test calls these spec operations: {names}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist's controller: note the operations a finished worker called."""
    CALLED.update((method, path) for method, path in node.workeroutput.get("called", []))


@pytest.fixture(scope="session")
def app() -> Any:
    """The test app, with response validation on."""
    return APP


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database of this test process (tests/backends.py); skips without a server."""
    with backends.database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The storage backend of the test's clients: every HTTP test runs on both (the
    PostgreSQL half is marked `postgres`; `make test` leaves it to `make test-postgres`)."""
    return str(request.param)


@pytest.fixture
def make_client(
    app: Any,
    tmp_path: Path,
    backend: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., ScimClient]]:
    """A client over a fresh database, with runtime settings overridden."""
    opened: list[TestClient] = []

    def make(*, served: Any = None, **overrides: Any) -> ScimClient:
        """`served`: an app of app_for(...) instead of the shared one (its settings too)."""
        if backend == "postgres":
            url = request.getfixturevalue("postgres_url")
            journal = str(tmp_path / f"scim{len(opened)}.journal")
            monkeypatch.setenv("SCIM_JOURNAL", journal)  # settings read again (app/tenants.py)
            config.use(config.get().with_overrides(db_path=url, journal_path=journal, **overrides))
            backends.empty(url)
            database.open_now(drop_stale=True)  # the declared indexes of this test's schemas
        else:
            db_path = str(tmp_path / f"scim{len(opened)}.db")
            shutil.copyfile(migrated_template(), db_path)
            config.use(config.get().with_overrides(db_path=db_path, **overrides))
        client = TestClient(Recorder(served or app), raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return ScimClient(client)

    saved = config.get()
    yield make
    for client in opened:
        client.__exit__(None, None, None)
    config.use(saved)


@pytest.fixture
def client(make_client: Callable[..., ScimClient]) -> ScimClient:
    """A client over a fresh, empty database."""
    return make_client()


@pytest.fixture
def declared(make_client: Callable[..., ScimClient]) -> ScimClient:
    """A client of the app built for examples/schemas (SCIM_SCHEMAS_DIR), fresh database."""
    return make_client(served=app_for(EXAMPLES), schemas_dir=EXAMPLES)


def seed_users(bodies: Iterable[dict[str, Any]]) -> list[str]:
    """Users stored as POST /Users stores them, written through the store in one transaction
    (for tests that need many: a thousand POSTs would cost seconds). Returns their ids."""
    ids = []
    with database.write_sync() as conn:
        for body in bodies:
            stored = clean(USER, body)
            normalize_primary(stored)
            ids.append(store.insert(conn, USER, str(uuid.uuid4()), stored).id)
    return ids


def load_sample(name: str) -> Any:
    """A JSON file from tests/samples/."""
    return json.loads((SAMPLES / name).read_text())


def assert_scim_error(response: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    """The response is a SCIM Error with this status (and scimType), as application/scim+json."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    assert body["detail"]
    return dict(body)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked `sqlite_only` (it reads SQLite's own files, pragmas or plans) keeps its
    SQLite run only: its PostgreSQL twin is deselected; `postgres_only` the other way round."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec is not None else None
        twin = (backend == "postgres" and item.get_closest_marker("sqlite_only")) or (
            backend == "sqlite" and item.get_closest_marker("postgres_only")
        )
        (dropped if twin else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A run that leaves the slow tests out (`make test`, `make test-postgres`) skips collecting
    test_fuzz.py: every test in it is slow, and Schemathesis builds them while collecting (3 s
    here)."""
    if collection_path.name == "test_fuzz.py" and "not slow" in config.option.markexpr:
        return True
    return None
