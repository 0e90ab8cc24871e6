"""Write transactions (app/database.py): workers take turns through an flock beside the database."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import time
from typing import Any

import pytest

from app import config, database, deadline, errors, store
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


# --- group commit: this worker's queued writers share one transaction -----------------------


def _commits() -> list[str]:
    """The COMMITs the connection runs from now on."""
    seen: list[str] = []
    database.connection().set_trace_callback(
        lambda sql: seen.append(sql) if sql == "COMMIT" else None
    )
    return seen


async def _queued(other_worker: int, blocks: list[Any]) -> list[BaseException | None]:
    """Run each block in its own write() while another worker holds the lock, so that they
    all queue; then release it. Each outcome: None, or what its write() raised."""

    async def one(block: Any) -> None:
        async with database.write() as conn:
            block(conn)

    tasks = [asyncio.create_task(one(block)) for block in blocks]
    await asyncio.sleep(0.05)
    fcntl.flock(other_worker, fcntl.LOCK_UN)
    done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
    return [None if r is None else r for r in done]


def test_queued_writers_share_one_commit(other_worker: int) -> None:
    fcntl.flock(other_worker, fcntl.LOCK_EX)
    commits = _commits()
    names = [f"g{n}" for n in range(10)]
    outcomes = asyncio.run(
        _queued(other_worker, [lambda conn, n=n: _insert(conn, n) for n in names])
    )
    assert outcomes == [None] * 10
    assert len(commits) == 1
    assert [store.fetch(GROUP, n).id for n in names] == names


def test_a_failed_block_undoes_only_itself(other_worker: int) -> None:
    fcntl.flock(other_worker, fcntl.LOCK_EX)

    def fails(conn: Any) -> None:
        _insert(conn, "half")
        raise RuntimeError("boom")

    def duplicate(conn: Any) -> None:
        _insert(conn, "first")  # a constraint SQLite refuses inside the shared transaction

    blocks = [fails, lambda c: _insert(c, "first"), duplicate, lambda c: _insert(c, "last")]
    outcomes = asyncio.run(_queued(other_worker, blocks))
    assert isinstance(outcomes[0], RuntimeError)
    assert outcomes[1] is None and outcomes[3] is None
    assert isinstance(outcomes[2], errors.ScimError)  # 409: displayName is taken
    assert store.fetch(GROUP, "first") and store.fetch(GROUP, "last")
    with pytest.raises(errors.NotFound):
        store.fetch(GROUP, "half")


def test_a_transaction_sqlite_rolls_back_fails_every_member(other_worker: int) -> None:
    """An interrupted write statement (the request's deadline, app/deadline.py) makes SQLite
    roll back the whole transaction: no member may answer as if its write landed."""
    fcntl.flock(other_worker, fcntl.LOCK_EX)

    def interrupted(conn: Any) -> None:
        deadline._deadline.set(time.monotonic() - 1)  # this request's deadline has passed
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)"
            " INSERT INTO group_members (group_id, user_id) SELECT 'x', i FROM n WHERE i < 0"
        )

    blocks = [lambda c: _insert(c, "a"), interrupted, lambda c: _insert(c, "c")]
    outcomes = asyncio.run(_queued(other_worker, blocks))
    assert isinstance(outcomes[1], sqlite3.OperationalError)
    assert isinstance(outcomes[0], database.Unavailable)  # 503: retry
    assert isinstance(outcomes[2], database.Unavailable)
    for name in ("a", "c"):
        with pytest.raises(errors.NotFound):
            store.fetch(GROUP, name)
    asyncio.run(_queued(other_worker, [lambda c: _insert(c, "after")]))  # the turn passed on
    assert store.fetch(GROUP, "after")


def test_a_cancelled_queued_writer_leaves_the_others_alone(other_worker: int) -> None:
    fcntl.flock(other_worker, fcntl.LOCK_EX)

    async def scenario() -> None:
        async def one(name: str) -> None:
            async with database.write() as conn:
                _insert(conn, name)

        first, second, third = (asyncio.create_task(one(n)) for n in ("one", "two", "three"))
        await asyncio.sleep(0.05)
        second.cancel()
        await asyncio.sleep(0)
        fcntl.flock(other_worker, fcntl.LOCK_UN)
        await asyncio.wait_for(asyncio.gather(first, third), 5)
        with pytest.raises(asyncio.CancelledError):
            await second

    asyncio.run(scenario())
    assert store.fetch(GROUP, "one") and store.fetch(GROUP, "three")
    with pytest.raises(errors.NotFound):
        store.fetch(GROUP, "two")


def _open_at(path: str, start: Any, results: Any) -> None:
    start.wait()
    try:
        database.open_database(path).conn.close()
        results.put("ok")
    except sqlite3.Error as exc:
        results.put(f"{type(exc).__name__}: {exc}")


def test_workers_opening_a_new_file_at_once_all_start(tmp_path: Any) -> None:
    """Three processes open one new file at the same moment, as gunicorn's workers do on a
    fresh SCIM_DB. SQLite answers the one that loses the switch to WAL "database is locked"
    at once (1 start in 15 failed this way before app/database.py asked again)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    for attempt in range(20):
        path = str(tmp_path / f"new{attempt}.db")
        start, results = context.Barrier(3), context.Queue()
        workers = [context.Process(target=_open_at, args=(path, start, results)) for _ in range(3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        assert sorted(results.get(timeout=5) for _ in workers) == ["ok"] * 3, attempt
