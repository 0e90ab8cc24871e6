"""The real server, gunicorn with two workers on 127.0.0.1, loses no write under concurrent load.

From the issue: 200+ concurrent creates and group PATCHes; every 2xx write is present
afterwards, none lost, no 5xx, no "database is locked", and concurrent POSTs of the same
`userName` give exactly one 201. Unlike the other tests this one starts a server process and
talks HTTP to it on the loopback interface, because the lock contention under test only exists
between worker processes.

On PostgreSQL (the `postgres` half) the same load goes to two servers, standing in for two
hosts behind a load balancer: two gunicorns on different ports over one database, every
request sent to the next server in turn, so the races are between hosts as well as workers.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import backends

pytestmark = pytest.mark.slow  # starts gunicorn with two workers

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
WORKERS = 2
USERS = 240  # created all at once, then each added to one group
LATE_USERS = 60  # created while those PATCHes run
GROUPS = 4
RACES = 5  # userNames each POSTed SAME_NAME_POSTS times at once, in different letter cases
SAME_NAME_POSTS = 20
# A password makes each create await its hash in a thread, so same-name POSTs interleave inside
# a worker too, and a uniqueness check made before that await would let two through.
PASSWORD = "Race-condition-1"
IF_MATCH_RACES = 5  # users, each PATCHed IF_MATCH_PATCHES times at once with the same If-Match
IF_MATCH_PATCHES = 10
CONNECTIONS = 32
START_TIMEOUT = 30.0
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LOCKED = "database is locked"


@dataclass(frozen=True)
class Server:
    """Running gunicorns (one per host): where to reach them and where their output goes."""

    base_urls: list[str]
    token: str
    logs: list[Path]

    @property
    def base_url(self) -> str:
        """The SCIM base URL requests are sent to (the first host; _client spreads them)."""
        return self.base_urls[0]

    def output(self) -> str:
        """Everything the servers have written to stdout and stderr so far."""
        return "".join(log.read_text(errors="replace") for log in self.logs)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """gunicorn with WORKERS ScimWorkers on a fresh database (on PostgreSQL two of them, one
    database), stopped when the module ends."""
    tmp = tmp_path_factory.mktemp("concurrency")
    token = secrets.token_urlsafe(24)
    if request.param == "sqlite":
        with _gunicorn(tmp, str(tmp / "scim.db"), token) as (base, log):
            yield Server([base], token, [log])
        return
    with (
        backends.database() as url,
        _gunicorn(tmp / "a", url, token) as (base_a, log_a),
        _gunicorn(tmp / "b", url, token) as (base_b, log_b),
    ):
        yield Server([base_a, base_b], token, [log_a, log_b])


@contextmanager
def _gunicorn(tmp: Path, db: str, token: str) -> Iterator[tuple[str, Path]]:
    tmp.mkdir(exist_ok=True)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_")}
    env |= {"SCIM_DB": db, "SCIM_TOKEN": token, "SCIM_JOURNAL": str(tmp / "scim.journal")}
    command = [
        str(GUNICORN), "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}",
        "--worker-class", "app.worker.ScimWorker",
        "--no-control-socket",  # the default socket is one path per user: parallel runs clash
        "app.main:create_app()",
    ]  # fmt: skip
    log = tmp / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=sink)
    base = f"http://127.0.0.1:{port}/scim/v2"
    try:
        _wait_until_ready(process, Server([base], token, [log]))
        yield base, log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_concurrent_creates_and_group_patches_lose_nothing(server: Server) -> None:
    """Every user created and every member added under load is there afterwards."""
    with _log_shown_on_failure(server):
        run = asyncio.run(_creates_and_patches(server))
        _assert_no_server_errors(run["all"])
        assert Counter(r.status_code for r in run["creates"]) == {201: USERS + LATE_USERS}
        assert Counter(r.status_code for r in run["patches"]) == {200: USERS}

        created = {r.json()["id"] for r in run["creates"]}
        assert len(created) == USERS + LATE_USERS
        assert all(r.status_code == 200 for r in run["reads"]), "a created user cannot be read"
        assert run["listed_total"] == len(created)
        assert run["listed"] == created

        for group_id, expected in run["expected_members"].items():
            assert run["members"][group_id] == expected, f"group {group_id} lost members"
        _assert_clean_log(server)


def test_concurrent_posts_of_one_user_name_give_one_201(server: Server) -> None:
    """RFC 7643 §4.1.1: userName is unique regardless of case, also between workers."""
    with _log_shown_on_failure(server):
        races = asyncio.run(_same_name_races(server))
        _assert_no_server_errors([r for posts, _ in races.values() for r in posts])
        for name, (posts, found) in races.items():
            statuses = Counter(r.status_code for r in posts)
            assert statuses == {201: 1, 409: SAME_NAME_POSTS - 1}, name
            for conflict in (r for r in posts if r.status_code == 409):
                body = conflict.json()
                assert body["schemas"] == [ERROR_SCHEMA]
                assert (body["status"], body["scimType"]) == ("409", "uniqueness")
            winner = next(r for r in posts if r.status_code == 201).json()
            assert found["totalResults"] == 1, f"{name}: {found}"
            assert found["Resources"][0]["id"] == winner["id"]
        _assert_clean_log(server)


def test_concurrent_patches_with_the_same_if_match_give_one_200(server: Server) -> None:
    """RFC 7644 §3.14: of PATCHes racing with one version in If-Match, exactly one lands."""
    with _log_shown_on_failure(server):
        results = asyncio.run(_if_match_races(server))
        for patches, final in results:
            _assert_no_server_errors(patches)
            assert Counter(r.status_code for r in patches) == {200: 1, 412: IF_MATCH_PATCHES - 1}
            winner = next(r for r in patches if r.status_code == 200).json()
            assert final["title"] == winner["title"]  # the one 200 is the change that stuck
            for failed in (r for r in patches if r.status_code == 412):
                assert failed.json()["status"] == "412"
        _assert_clean_log(server)


# --- the load ------------------------------------------------------------------------------


async def _if_match_races(server: Server) -> list[tuple[list[httpx.Response], Any]]:
    async with _client(server) as client:
        results = []
        for race in range(IF_MATCH_RACES):
            created = await client.post("/Users", json=_user(f"if-match-{race}@example.com"))
            assert created.status_code == 201, created.text
            user = created.json()
            patches = await _gather(
                client.patch(
                    f"/Users/{user['id']}",
                    headers={"If-Match": user["meta"]["version"]},
                    json={
                        "schemas": [PATCH_SCHEMA],
                        "Operations": [{"op": "replace", "path": "title", "value": f"writer {n}"}],
                    },
                )
                for n in range(IF_MATCH_PATCHES)
            )
            final = await client.get(f"/Users/{user['id']}")
            results.append((patches, final.json()))
    return results


async def _creates_and_patches(server: Server) -> dict[str, Any]:
    async with _client(server) as client:
        group_ids = []
        for number in range(GROUPS):
            created = await client.post("/Groups", json=_group(f"load-group-{number}"))
            assert created.status_code == 201, created.text
            group_ids.append(created.json()["id"])

        first = await _gather(
            client.post("/Users", json=_user(f"load-{n:04d}")) for n in range(USERS)
        )
        first_ids = [r.json()["id"] for r in first if r.status_code == 201]
        targets = {user_id: group_ids[n % GROUPS] for n, user_id in enumerate(first_ids)}
        # PATCHes and a second wave of creates race each other for the write lock.
        patch_calls = [
            client.patch(f"/Groups/{g}", json=_add_member(u)) for u, g in targets.items()
        ]
        late_calls = [
            client.post("/Users", json=_user(f"load-{n:04d}"))
            for n in range(USERS, USERS + LATE_USERS)
        ]
        mixed = await _gather([*patch_calls, *late_calls])
        patches, late = mixed[: len(patch_calls)], mixed[len(patch_calls) :]

        creates = [*first, *late]
        ids = [r.json()["id"] for r in creates if r.status_code == 201]
        reads = await _gather(client.get(f"/Users/{user_id}") for user_id in ids)
        listing = await client.get(
            "/Users", params={"filter": 'userName sw "load-"', "startIndex": 1, "count": 1000}
        )
        assert listing.status_code == 200, listing.text
        groups = await _gather(client.get(f"/Groups/{group_id}") for group_id in group_ids)

    expected: dict[str, set[str]] = {group_id: set() for group_id in group_ids}
    for (user_id, group_id), response in zip(targets.items(), patches, strict=True):
        if response.status_code == 200:
            expected[group_id].add(user_id)
    return {
        "all": [*creates, *patches, *reads, listing, *groups],
        "creates": creates,
        "patches": patches,
        "reads": reads,
        "listed_total": listing.json()["totalResults"],
        "listed": {resource["id"] for resource in listing.json()["Resources"]},
        "expected_members": expected,
        "members": {
            g.json()["id"]: {m["value"] for m in g.json().get("members", [])} for g in groups
        },
    }


async def _same_name_races(server: Server) -> dict[str, tuple[list[httpx.Response], Any]]:
    names = [f"race-{number}.same.name@example.com" for number in range(RACES)]
    async with _client(server) as client:
        calls = [
            client.post("/Users", json=_user(_letter_case(name, variant), password=PASSWORD))
            for variant in range(SAME_NAME_POSTS)
            for name in names
        ]
        posts = await _gather(calls)
        lookups = await _gather(
            client.get("/Users", params={"filter": f'userName eq "{name}"'}) for name in names
        )
    races = {}
    for number, (name, lookup) in enumerate(zip(names, lookups, strict=True)):
        assert lookup.status_code == 200, lookup.text
        races[name] = (posts[number::RACES], lookup.json())
    return races


class _RoundRobin(httpx.AsyncBaseTransport):
    """A load balancer in the client: each request goes to the next host in turn."""

    def __init__(self, bases: list[str]) -> None:
        self.hosts = [httpx.URL(base) for base in bases]
        self.inner = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        )
        self.turn = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = self.hosts[self.turn % len(self.hosts)]
        self.turn += 1
        request.url = request.url.copy_with(host=host.host, port=host.port)
        request.headers["Host"] = f"{host.host}:{host.port}"
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _client(server: Server) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.base_url,
        transport=_RoundRobin(server.base_urls),
        headers={
            "Authorization": f"Bearer {server.token}",
            "Content-Type": "application/scim+json",
        },
        limits=httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS),
        timeout=httpx.Timeout(30.0),
    )


async def _gather(calls: Any) -> list[httpx.Response]:
    """All responses, in call order; a request that got no response at all fails the test."""
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    failed = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    assert not failed, f"{len(failed)} requests got no response, first: {failed[0]}"
    return list(outcomes)


def _user(user_name: str, **extra: Any) -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Load", "familyName": "Test"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "active": True,
        **extra,
    }


def _group(display_name: str) -> dict[str, Any]:
    return {"schemas": [GROUP_SCHEMA], "displayName": display_name, "members": []}


def _add_member(user_id: str) -> dict[str, Any]:
    operation = {"op": "add", "path": "members", "value": [{"value": user_id}]}
    return {"schemas": [PATCH_SCHEMA], "Operations": [operation]}


def _letter_case(name: str, variant: int) -> str:
    """One of 32 spellings of `name`: bit k of `variant` upper-cases every fifth letter from k."""
    return "".join(c.upper() if (variant >> (k % 5)) & 1 else c.lower() for k, c in enumerate(name))


# --- the server ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_ready(process: subprocess.Popen[bytes], server: Server) -> None:
    """Until ServiceProviderConfig answers 200 and every worker has finished its start-up."""
    deadline = time.monotonic() + START_TIMEOUT
    url = f"{server.base_url}/ServiceProviderConfig"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{server.output()}")
        try:
            answered = httpx.get(url, timeout=1.0).status_code == 200
        except httpx.TransportError:
            answered = False
        # Otherwise the first requests would all go to the one worker that is up.
        if answered and server.output().count("Application startup complete") >= WORKERS:
            return
        time.sleep(0.1)
    pytest.fail(f"server not ready after {START_TIMEOUT} s:\n{server.output()}")


def _assert_no_server_errors(responses: list[httpx.Response]) -> None:
    failed = [
        f"{r.request.method} {r.request.url.path} -> {r.status_code} {r.text}"
        for r in responses
        if r.status_code >= 500
    ]
    assert not failed, f"{len(failed)} responses were 5xx, first: {failed[0]}"


def _assert_clean_log(server: Server) -> None:
    output = server.output()
    assert LOCKED not in output
    # A worker that died mid-load would be replaced; requests it held would be lost silently.
    booted = WORKERS * len(server.logs)
    assert output.count("Booting worker with pid") == booted, "a worker was restarted"
    assert "Traceback" not in output


@contextmanager
def _log_shown_on_failure(server: Server) -> Iterator[None]:
    """pytest prints captured stderr only for failed tests, so the log appears just then."""
    try:
        yield
    except BaseException:
        print(f"--- server output ({server.logs}) ---\n{server.output()}", file=sys.stderr)
        raise
