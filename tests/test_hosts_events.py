"""Security events with two hosts over one PostgreSQL database: writes land on either host, and
two poll receivers' requests go to both hosts at once; every SET is delivered exactly once
(offered under the write lock, acknowledged once), and each resource's SETs come in the order
of its changes (the outbox's sequence is commit order across hosts)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import backends
from tests.served import Served, serve
from tests.test_events import EVENTS_AUTH, EVENTS_TOKEN, PROV, SECRET, verify

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TOKEN = "two-hosts-token"  # one SCIM token for both hosts, as behind a load balancer
USERS = 30
PATCHES = 3
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[list[Served]]:
    with backends.database() as url:
        settings = {
            "SCIM_DB": url,
            "SCIM_TOKEN": TOKEN,
            "SCIM_EVENTS_TOKEN": EVENTS_TOKEN,
            "SCIM_EVENTS_SECRET": SECRET,
            "SCIM_EVENTS_REDELIVER_SECONDS": "60",
        }
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a_journal, b_journal = str(tmp_path / "a" / "j"), str(tmp_path / "b" / "j")
        with (
            serve(tmp_path / "a", SCIM_JOURNAL=a_journal, **settings) as a,
            serve(tmp_path / "b", SCIM_JOURNAL=b_journal, **settings) as b,
        ):
            yield [a, b]


async def _writes(hosts: list[Served], token: str) -> list[str]:
    """USERS users, each created then PATCHed PATCHES times, alternating hosts."""
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=auth, timeout=30) as client:

        async def one(n: int) -> str:
            host = hosts[n % 2].base
            body = {"schemas": [USER_SCHEMA], "userName": f"ev-{n}"}
            created = await client.post(f"{host}/Users", json=body)
            assert created.status_code == 201, created.text
            user_id = str(created.json()["id"])
            for k in range(PATCHES):
                operation = {"op": "replace", "path": "title", "value": f"t{k}"}
                patch = {"schemas": [PATCH_SCHEMA], "Operations": [operation]}
                host = hosts[(n + k + 1) % 2].base
                patched = await client.patch(f"{host}/Users/{user_id}", json=patch)
                assert patched.status_code == 200, patched.text
            return user_id

        return list(await asyncio.gather(*(one(n) for n in range(USERS))))


async def _receiver(hosts: list[Served], first: int) -> list[tuple[str, dict[str, Any]]]:
    """A poll receiver sending each poll to the next host: (jti, claims) of what it got."""
    got: list[tuple[str, dict[str, Any]]] = []
    ack: list[str] = []
    empty = 0
    async with httpx.AsyncClient(headers=EVENTS_AUTH, timeout=30) as client:
        for turn in range(first, first + 1000):
            body = {"returnImmediately": True, "maxEvents": 7, "ack": ack}
            answer = await client.post(f"{hosts[turn % 2].base}/events/poll", json=body)
            assert answer.status_code == 200, answer.text
            sets = answer.json()["sets"]
            got += [(jti, verify(token)) for jti, token in sets.items()]
            ack = list(sets)
            empty = 0 if sets else empty + 1
            if empty >= 2:
                return got
    raise AssertionError("the receiver never drained the feed")


async def _drain(hosts: list[Served]) -> list[tuple[str, dict[str, Any]]]:
    both = await asyncio.gather(_receiver(hosts, 0), _receiver(hosts, 1))
    return [*both[0], *both[1]]


def test_events_from_two_hosts_are_delivered_once_in_order(hosts: list[Served]) -> None:
    ids = asyncio.run(_writes(hosts, TOKEN))
    got = asyncio.run(_drain(hosts))
    jtis = [jti for jti, _ in got]
    assert len(jtis) == len(set(jtis)), "a SET was delivered twice"
    assert len(jtis) == USERS * (1 + PATCHES)
    by_user: dict[str, list[tuple[int, list[str]]]] = {}
    for jti, claims in got:
        seq = int(jti.split("-", 1)[0])
        kinds = [uri.removeprefix(PROV).split(":")[0] for uri in claims["events"]]
        user_id = claims["sub_id"]["uri"].rsplit("/", 1)[1]
        by_user.setdefault(user_id, []).append((seq, kinds))
    assert set(by_user) == set(ids)
    for user_id, found in by_user.items():
        in_order = [kinds for _, kinds in sorted(found)]
        assert in_order == [["create"]] + [["patch"]] * PATCHES, (user_id, in_order)
    for host in hosts:
        assert "Traceback" not in host.log()
