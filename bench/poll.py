"""Poll throughput (issue 17): how many SETs per second one receiver takes by POST /events/poll.

    .venv/bin/python bench/poll.py     # BENCH_POLL_EVENTS (50000), BENCH_POLL_MAX (1000),
                                       # BENCH_POLL_ROUNDS (3), WORKERS (2)

A child process fills the outbox of a fresh database with BENCH_POLL_EVENTS prov:create:full
SETs (claims as app/events.py writes them for users shaped like Okta's, through
app.outbox.append); then the server starts (gunicorn, events on, HS256) and one receiver polls
`maxEvents` at a time with returnImmediately, acknowledging each batch in its next poll, as
RFC 8936 §2.4 describes, until nothing is left. It prints events/s and the server's CPU per
1,000 events; each round uses a fresh database. Signing happens here, at delivery.
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` and `app` importable
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench import seed, server  # noqa: E402

SECRET = secrets.token_urlsafe(32)


def fill(db: str, count: int) -> None:
    """(Child process) `count` create:full SETs in the outbox of a fresh database."""
    from app import config, database, outbox
    from app.resources import USER, meta, to_scim

    config.use(config.Settings(db_path=db))
    base, now = "https://scim.example.com/scim/v2", int(time.time())
    with database.write_sync() as conn:
        for start in range(0, count, 1000):
            sets = []
            for index in range(start, min(start + 1000, count)):
                user_id = str(uuid.uuid4())
                body = seed.user_body(index)
                stamp = "2026-12-01T00:00:00.000Z"
                row_meta = meta(USER, user_id, 1, stamp, stamp, base)
                event = {"data": to_scim(USER, user_id, body, row_meta), "version": 'W/"1"'}
                sets.append({
                    "iss": base, "iat": now, "jti": uuid.uuid4().hex, "txn": uuid.uuid4().hex,
                    "toe": now, "sub_id": {"format": "scim", "uri": f"/Users/{user_id}"},
                    "events": {"urn:ietf:params:scim:event:prov:create:full": event},
                })  # fmt: skip
            outbox.append(conn, sets)


def drain(url: str, token: str, max_events: int) -> tuple[int, float]:
    """Poll and acknowledge until nothing is left: (SETs taken, seconds)."""
    taken, acks = 0, []
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        while True:
            body = {"maxEvents": max_events, "returnImmediately": True, "ack": acks}
            answer = http.post("/scim/v2/events/poll", json=body).json()
            acks = list(answer["sets"])
            taken += len(acks)
            if not answer["moreAvailable"] and not acks:
                return taken, time.perf_counter() - started


def one_round(count: int, max_events: int, workers: int) -> tuple[float, float]:
    """(events/s, server CPU seconds per 1,000 events) for one fresh outbox."""
    token, events_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="scim-poll-") as tmp:
        db = str(Path(tmp) / "scim.db")
        subprocess.run([sys.executable, __file__, "fill", db, str(count)], check=True, cwd=ROOT)
        env = {"SCIM_DB": db, "SCIM_TOKEN": token, "SCIM_EVENTS_TOKEN": events_token}
        env |= {"SCIM_EVENTS_SECRET": SECRET, "SCIM_EVENTS_REDELIVER_SECONDS": "30"}
        app = "app.main:create_app()"
        ready = "/scim/v2/ServiceProviderConfig"
        with server.serve(app, workers, env, ready, token, Path(tmp) / "server.log") as running:
            before = running.cpu_seconds()
            taken, seconds = drain(running.url, events_token, max_events)
            cpu = running.cpu_seconds() - before
    assert taken == count, f"took {taken} of {count} SETs"
    return taken / seconds, cpu / count * 1000


def main() -> None:
    """Run BENCH_POLL_ROUNDS rounds and print each with the median."""
    count = int(os.environ.get("BENCH_POLL_EVENTS", "50000"))
    max_events = int(os.environ.get("BENCH_POLL_MAX", "1000"))
    rounds = int(os.environ.get("BENCH_POLL_ROUNDS", "3"))
    workers = int(os.environ.get("WORKERS", "2"))
    rates, costs = [], []
    for number in range(1, rounds + 1):
        rate, cost = one_round(count, max_events, workers)
        rates.append(rate)
        costs.append(cost)
        print(f"round {number}/{rounds}: {rate:,.0f} events/s, {cost:.3f} CPU-s per 1k events")
    print(
        f"poll: {count:,} SETs, maxEvents {max_events}: median {statistics.median(rates):,.0f}"
        f" events/s, {statistics.median(costs):.3f} server CPU-s per 1k events"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["fill"]:
        fill(sys.argv[2], int(sys.argv[3]))
    else:
        main()
