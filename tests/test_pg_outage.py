"""PostgreSQL cut off under a write load: the real server (gunicorn, two workers) answers 201
or 503 with Retry-After, never a 500 and never a hang; no write is half done; and it recovers on
its own once the database answers again (its connections are terminated several times during
the load, as a restarting server or a failover would)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests import backends
from tests.served import Served, serve

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

USERS = 300
CUTS = 4  # connections cut at least
CUT_SECONDS = 1.5
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture
def database_url() -> Iterator[str]:
    with backends.database() as url:
        yield url


def _cut(url: str, stop: threading.Event, cut: list[int]) -> None:
    """Terminate every connection to the database every 100 ms for CUT_SECONDS, as a restart
    would (or until the load ends); `cut` collects how many each time."""
    name = url.rsplit("/", 1)[1]
    until = time.monotonic() + CUT_SECONDS
    with psycopg.connect(backends.ADMIN_URL, autocommit=True) as admin:
        while not stop.wait(0.1) and time.monotonic() < until:
            found = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            ).fetchone()
            cut.append(found[0] if found else 0)


async def _load(served: Served) -> list[httpx.Response]:
    async with httpx.AsyncClient(
        base_url=served.base, headers=served.auth, timeout=httpx.Timeout(30.0)
    ) as client:
        calls = [
            client.post(
                "/Users",
                json={
                    "schemas": [USER_SCHEMA],
                    "userName": f"cut-{n:04d}",
                    "emails": [{"value": f"cut-{n:04d}@example.com", "primary": True}],
                },
            )
            for n in range(USERS)
        ]
        return list(await asyncio.gather(*calls))


def _lookup(served: Served, text: str) -> Any:
    """A lookup that, like a client honouring Retry-After, asks again while the server still
    fails fast: for OUTAGE_SECONDS after the last connection it saw cut (app/postgres.py)."""
    until = time.monotonic() + 10
    while True:
        found = httpx.get(
            f"{served.base}/Users", params={"filter": text}, headers=served.auth, timeout=10
        )
        if found.status_code != 503 or time.monotonic() > until:
            break
        time.sleep(0.2)
    assert found.status_code == 200, found.text
    return found.json()


def test_a_cut_database_is_503_then_recovers(tmp_path: Path, database_url: str) -> None:
    settings = {"SCIM_DB": database_url, "SCIM_JOURNAL": str(tmp_path / "scim.journal")}
    with serve(tmp_path, **settings) as served:
        stop = threading.Event()
        cut: list[int] = []
        cutter = threading.Thread(target=_cut, args=(database_url, stop, cut))
        cutter.start()
        started = time.monotonic()
        try:
            responses = asyncio.run(_load(served))
        finally:
            stop.set()
            cutter.join()
        assert time.monotonic() - started < 60
        statuses = Counter(r.status_code for r in responses)
        print(f"{sum(cut)} connections cut in {len(cut)} rounds: {dict(statuses)}")
        assert sum(cut) >= CUTS
        assert set(statuses) <= {201, 503}, (statuses, served.log()[-3000:])
        for response in responses:
            if response.status_code == 503:
                body = response.json()
                assert body["status"] == "503" and response.headers["Retry-After"]
        for n, response in enumerate(responses):
            by_name = _lookup(served, f'userName eq "cut-{n:04d}"')["totalResults"]
            by_email = _lookup(served, f'emails.value eq "cut-{n:04d}@example.com"')
            # All of a create or none of it: the user and its email index row together.
            assert by_name == by_email["totalResults"]
            if response.status_code == 201:
                assert by_name == 1
        after = httpx.post(
            f"{served.base}/Users",
            json={"schemas": [USER_SCHEMA], "userName": "after-the-cuts"},
            headers=served.auth,
            timeout=10,
        )
        assert after.status_code == 201, after.text
        assert "Traceback" not in served.log()
