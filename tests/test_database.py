"""Write transactions (app/database.py): workers take turns through an flock beside the database."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from typing import Any

import pytest

from app import config, database, errors, store
from app.resources import GROUP
from tests.conftest import ScimClient

pytestmark = pytest.mark.sqlite_only  # the flock beside the SQLite file


@pytest.fixture
def other_worker(client: ScimClient) -> Any:
    """An fd on the lock file, as another worker process would hold it."""
    database.db()  # opens the database and its lock file in this process
    fd = os.open(config.get().db_path + ".lock", os.O_RDWR)
    yield fd
    os.close(fd)


def _insert(conn: Any, name: str) -> None:
    store.insert(conn, GROUP, name, {"displayName": name})


def test_a_write_waits_for_the_other_worker_and_then_lands(other_worker: int) -> None:
    fcntl.flock(other_worker, fcntl.LOCK_EX)

    async def scenario() -> list[str]:
        order: list[str] = []

        async def write() -> None:
            async with database.write() as conn:
                _insert(conn, "waited")
            order.append("written")

        task = asyncio.create_task(write())
        await asyncio.sleep(0.05)
        order.append("released")  # the write could not start while the other worker held it
        fcntl.flock(other_worker, fcntl.LOCK_UN)
        await asyncio.wait_for(task, 5)
        return order

    assert asyncio.run(scenario()) == ["released", "written"]
    assert store.fetch(GROUP, "waited").resource == {"displayName": "waited"}


def test_a_cancelled_waiter_gives_the_lock_back(other_worker: int) -> None:
    fcntl.flock(other_worker, fcntl.LOCK_EX)

    async def scenario() -> None:
        async def write() -> None:
            async with database.write() as conn:
                _insert(conn, "never")

        task = asyncio.create_task(write())
        await asyncio.sleep(0.05)
        task.cancel()
        fcntl.flock(other_worker, fcntl.LOCK_UN)
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.1)  # the waiting thread takes the lock, then hands it back

    asyncio.run(scenario())
    fcntl.flock(other_worker, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again: no BlockingIOError
    fcntl.flock(other_worker, fcntl.LOCK_UN)
    with pytest.raises(errors.NotFound, match="not found"):
        store.fetch(GROUP, "never")


def test_a_failed_write_rolls_back_and_releases(other_worker: int) -> None:
    async def scenario() -> None:
        async with database.write() as conn:
            _insert(conn, "kept")
        with pytest.raises(RuntimeError):
            async with database.write() as conn:
                _insert(conn, "dropped")
                raise RuntimeError("boom")

    asyncio.run(scenario())
    fcntl.flock(other_worker, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fcntl.flock(other_worker, fcntl.LOCK_UN)
    assert store.fetch(GROUP, "kept")
    with pytest.raises(errors.NotFound, match="not found"):
        store.fetch(GROUP, "dropped")


def test_an_unfiltered_count_follows_every_commit(client: ScimClient) -> None:
    """store.search keeps an unfiltered count until the database changes: a write of this
    process, another connection's commit (another worker's) and a rolled-back write each
    leave the next totalResults exact."""

    def total() -> int:
        return int(client.get("/Groups?count=0").json()["totalResults"])

    assert total() == 0
    client.post("/Groups", {"schemas": [GROUP.schema], "displayName": "one"})
    assert total() == 1
    other = sqlite3.connect(config.get().db_path)  # another worker's connection
    with other:
        other.execute(
            "INSERT INTO groups (tenant, id, display_name_key, resource, created, last_modified)"
            " VALUES ('default', 'g2', 'two', '{\"displayName\":\"two\"}', 'x', 'x')"
        )
    other.close()
    assert total() == 2

    async def rolled_back() -> None:
        with pytest.raises(RuntimeError):
            async with database.write() as conn:
                _insert(conn, "dropped")
                assert store.search(GROUP, None, {}, None, 0, 0)[0] == 3  # inside: not kept
                raise RuntimeError("boom")

    asyncio.run(rolled_back())
    assert total() == 2
