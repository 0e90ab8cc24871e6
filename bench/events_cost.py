"""What recording security events adds to a write, in CPU microseconds, measured in-process.

    .venv/bin/python bench/events_cost.py      # BENCH_EVENTS_WRITES (2000), BENCH_ROUNDS (3)

On a shared machine the HTTP bench (bench/run.py, events on against off) moves by more than
the difference it looks for, so this measures the difference alone: the same write
transactions (a deactivating PATCH, a PUT, a member added to a group, a create), each run with
its event hooks (`app/events.py`, `app/outbox.py`) and without, CPU time (process_time) per
write, with synchronous=NORMAL so that the disk's sync does not stand in the measure. Compare
the difference with the CPU per request of the same scenario in `make bench`.
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import config, database, events, members, store  # noqa: E402
from app.resources import GROUP, USER  # noqa: E402
from bench import seed  # noqa: E402

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
serial = itertools.count(1_000_000)  # userNames of created users, unique across rounds


def scenarios(user_ids: list[str], group_id: str) -> dict[str, Callable[[int], None]]:
    """Each scenario's write transaction n, hooks included (they do nothing with events off)."""
    deactivate = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}

    def patch_user(n: int) -> None:
        user_id = user_ids[n % len(user_ids)]
        with database.write_sync() as conn:
            was = events.before(USER, user_id)
            current = store.fetch(USER, user_id).resource
            row = store.update(conn, USER, user_id, {**current, "active": n % 2 == 1})
            events.patched(conn, USER, row, deactivate, was)

    def put_user(n: int) -> None:
        user_id = user_ids[n % len(user_ids)]
        body = {**seed.user_body(n % len(user_ids)), "title": f"t{n}"}
        with database.write_sync() as conn:
            was = events.before(USER, user_id)
            row = store.update(conn, USER, user_id, body)
            events.replaced(conn, USER, row, body, was)

    def add_member(n: int) -> None:
        user_id = user_ids[n % len(user_ids)]
        add = {"op": "add", "path": "members", "value": [{"value": user_id}]}
        with database.write_sync() as conn:
            row = store.touch(conn, GROUP, group_id, None)
            members.add_members(conn, group_id, [user_id])
            events.patched(conn, GROUP, row, {"schemas": [PATCH], "Operations": [add]}, None)

    def create(n: int) -> None:
        body = seed.user_body(next(serial))
        with database.write_sync() as conn:
            row = store.insert(conn, USER, str(uuid.uuid4()), body)
            events.created(conn, USER, row)

    return {"deactivate": patch_user, "replace": put_user, "member_add": add_member,
            "create": create}  # fmt: skip


def cpu_per_write(write: Callable[[int], None], count: int) -> float:
    """CPU microseconds per write."""
    started = time.process_time()
    for n in range(count):
        write(n)
    return (time.process_time() - started) / count * 1e6


def main() -> None:
    """Print, per scenario, the CPU per write with events off, on, and the difference."""
    count = int(os.environ.get("BENCH_EVENTS_WRITES", "2000"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    with tempfile.TemporaryDirectory(prefix="scim-events-cost-") as tmp:
        db_path, base = str(Path(tmp) / "scim.db"), "https://scim.example.com/scim/v2"
        off = config.Settings(db_path=db_path, synchronous="NORMAL", base_url=base)
        on = off.with_overrides(events_token="t", events_secret="s" * 32)
        config.use(off)
        with database.write_sync() as conn:
            user_ids = [store.insert(conn, USER, str(uuid.uuid4()), seed.user_body(n)).id
                        for n in range(1000)]  # fmt: skip
            group_id = store.insert(conn, GROUP, str(uuid.uuid4()), {"displayName": "G"}).id
        results: dict[str, dict[str, list[float]]] = {}
        for _ in range(rounds):
            for name, write in scenarios(user_ids, group_id).items():
                for label, settings in (("off", off), ("on", on)):
                    config.use(settings)
                    found = results.setdefault(name, {}).setdefault(label, [])
                    found.append(cpu_per_write(write, count))
    print(f"{count} writes x {rounds} rounds, CPU microseconds per write (median):")
    for name, found in results.items():
        off_us, on_us = statistics.median(found["off"]), statistics.median(found["on"])
        print(f"  {name:<11} off {off_us:7.1f}  on {on_us:7.1f}  events add {on_us - off_us:6.1f}")


if __name__ == "__main__":
    main()
