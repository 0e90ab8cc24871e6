"""Security events against the real server (gunicorn, 2 workers): push delivery (RFC 8935,
app/push.py) to receivers this test runs on 127.0.0.1, restarts mid-backlog, the lease between
workers, a long poll woken by another worker, and kill -9 under a write load."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.test_durability import _free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SECRET = "a-push-test-secret-of-32-bytes!!"


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@dataclass
class Receiver:
    """An RFC 8935 receiver on 127.0.0.1: records every SET it is sent, answers by `script`
    (a status for the n-th request, or 202), `delay` seconds late."""

    script: Callable[[int, dict[str, Any]], int] = lambda n, claims: 202
    delay: float = 0.0
    port: int = field(default_factory=_free_port)
    received: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                with receiver.lock:
                    receiver.in_flight += 1
                    receiver.most_in_flight = max(receiver.most_in_flight, receiver.in_flight)
                    n = len(receiver.received)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert self.headers["Content-Type"] == "application/secevent+jwt"
                claims = claims_of(body.decode())
                status = receiver.script(n, claims)
                time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.received.append((claims, status))
                    receiver.in_flight -= 1
                self.send_response(status)
                answer = b""
                if status == 400:
                    answer = b'{"err":"invalid_request","description":"not for us"}'
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def delivered(self) -> list[str]:
        """The jtis answered 202, in the order they were received."""
        with self.lock:
            return [c["jti"] for c, status in self.received if status == 202]

    def wait_for(self, count: int, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while len(set(self.delivered())) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(set(self.delivered())) >= count, f"{len(set(self.delivered()))} of {count}"


@dataclass
class Server:
    """`python -m app.serve` with 2 workers and events on, in a process group of its own."""

    tmp: Path
    env: dict[str, str]
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    events_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/scim/v2"

    def start(self) -> None:
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_")}
        env |= {"SCIM_DB": str(self.tmp / "scim.db"), "SCIM_TOKEN": self.token}
        env |= {"SCIM_EVENTS_SECRET": SECRET, "HOME": str(self.tmp)}
        env |= {"HOST": "127.0.0.1", "PORT": str(self.port), "WORKERS": "2", **self.env}
        with (self.tmp / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.serve"],
                cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                if httpx.get(f"{self.base}/ServiceProviderConfig", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("server did not start:\n" + self.log())

    def stop(self, how: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, how)
            self.process.wait(timeout=30)

    def log(self) -> str:
        return (self.tmp / "server.log").read_text(errors="replace")[-4000:]

    def client(self) -> httpx.Client:
        auth = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.base, headers=auth, timeout=10)

    def poll(self, **body: Any) -> Any:
        auth = {"Authorization": f"Bearer {self.events_token}"}
        body.setdefault("returnImmediately", True)
        answer = httpx.post(f"{self.base}/events/poll", json=body, headers=auth, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def run_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def run(**env: str) -> Server:
        server = Server(tmp_path, env)
        started.append(server)
        server.start()
        return server

    yield run
    for server in started:
        server.stop(signal.SIGKILL)


def create(http: httpx.Client, name: str) -> tuple[str, float]:
    """A user created; its id and how long the request took."""
    started = time.monotonic()
    answer = http.post("/Users", json={"schemas": [USER_SCHEMA], "userName": name})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"], time.monotonic() - started


PUSH = {
    "SCIM_EVENTS_PUSH_TIMEOUT_SECONDS": "2",
    "SCIM_EVENTS_PUSH_BACKOFF_SECONDS": "0.1",
    "SCIM_EVENTS_PUSH_MAX_BACKOFF_SECONDS": "0.5",
}


def test_push_in_order_with_retries_rejections_and_dead_receivers(
    run_server: Callable[..., Server],
) -> None:
    # A answers 500 to its first two requests and 400 to user3's SET; B is not listening at
    # first (connection refused); C answers after longer than the timeout, always.
    flaky = Receiver(lambda n, c: 500 if n < 2 else 400 if _name(c) == "user3" else 202)
    late, hanging = Receiver(), Receiver(delay=4.0)
    flaky.start()
    hanging.start()
    urls = ",".join(r.url for r in (flaky, late, hanging))
    server = run_server(SCIM_EVENTS_PUSH_URLS=urls, **PUSH)
    try:
        with server.client() as http:
            took = [create(http, f"user{n}")[1] for n in range(10)]
        assert max(took) < 1.5, f"a write waited for a receiver: {took}"
        flaky.wait_for(9)  # user3's SET was refused: recorded, not retried
        late.start()
        late.wait_for(10)
    finally:
        for receiver in (flaky, late, hanging):
            receiver.stop()
    names = [f"user{n}" for n in range(10)]
    assert [_name(c) for c, s in flaky.received[:3]] == ["user0", "user0", "user0"]
    assert [_name(c) for c, s in flaky.received if s == 202] == [n for n in names if n != "user3"]
    assert [_name(c) for c, s in flaky.received if s == 400] == ["user3"]
    assert [_name(c) for c, s in late.received if s == 202] == names  # in order, once each
    # Never two SETs at once to one receiver (the hanging one sees a retry while its handler
    # still sleeps on the request the deliverer gave up on, so it is not counted).
    assert flaky.most_in_flight == late.most_in_flight == 1
    assert len(hanging.received) >= 1 and "refused SET" in server.log()


def _name(claims: dict[str, Any]) -> str:
    payload = claims["events"]["urn:ietf:params:scim:event:prov:create:full"]
    return str(payload["data"]["userName"])


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "kill -9"])
def test_a_restart_mid_backlog_loses_nothing(run_server: Callable[..., Server], how: int) -> None:
    slow = Receiver(delay=0.05)
    slow.start()
    server = run_server(SCIM_EVENTS_PUSH_URLS=slow.url, **PUSH)
    try:
        with server.client() as http:
            for n in range(60):
                create(http, f"user{n}")
        slow.wait_for(5)
        server.stop(how)  # mid-backlog: 60 SETs take about 3 s to deliver
        delivered_before = len(slow.delivered())
        assert delivered_before < 60
        server.start()
        slow.wait_for(60)
    finally:
        slow.stop()
    delivered = slow.delivered()
    assert [f"user{n}" for n in range(60)] == list(
        dict.fromkeys(_name(c) for c, s in slow.received if s == 202)
    )
    duplicates = len(delivered) - len(set(delivered))
    # SIGTERM lets the SET in flight be answered and recorded; kill -9 may cut between the
    # receiver's 202 and the cursor's commit: that one SET (only it) comes again.
    assert duplicates == 0 if how == signal.SIGTERM else duplicates <= 1
    assert slow.most_in_flight == 1


def test_a_long_poll_is_woken_by_a_write_in_any_worker(run_server: Callable[..., Server]) -> None:
    server = run_server(SCIM_EVENTS_TOKEN="x")
    server.events_token = "x"
    lags = []
    with server.client() as http:
        for n in range(6):  # two workers: some rounds write in the other worker
            answers: list[tuple[Any, float]] = []
            waiter = threading.Thread(target=_long_poll, args=(server, answers))
            waiter.start()
            time.sleep(0.3)
            user_id, _ = create(http, f"late{n}")
            written = time.monotonic()
            waiter.join(timeout=25)
            found, answered = answers[0]
            (token,) = found["sets"].values()
            assert claims_of(token)["sub_id"]["uri"] == f"/Users/{user_id}"
            server.poll(maxEvents=0, ack=list(found["sets"]))
            lags.append(answered - written)
    assert max(lags) < 1.0, lags


def _long_poll(server: Server, answers: list[tuple[Any, float]]) -> None:
    found = server.poll(returnImmediately=False, maxEvents=10)
    answers.append((found, time.monotonic()))


def test_the_tail_command_prints_the_events(run_server: Callable[..., Server]) -> None:
    server = run_server(SCIM_EVENTS_TOKEN="tail-token")
    with server.client() as http:
        user_id, _ = create(http, "alice@example.com")
    env = {**os.environ, "SCIM_EVENTS_TOKEN": "tail-token", "SCIM_EVENTS_URL": server.base}
    printed = subprocess.run(
        [sys.executable, "-m", "app.events", "tail", "--once"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert "create:full" in printed and f"/Users/{user_id}" in printed
    assert "alice@example.com" in printed
    server.events_token = "tail-token"
    assert server.poll()["sets"] == {}  # the tail acknowledged what it printed


def test_kill_9_under_write_load_keeps_every_acknowledged_event_in_order(
    run_server: Callable[..., Server],
) -> None:
    server = run_server(SCIM_EVENTS_TOKEN="kill-token", SCIM_EVENTS_REDELIVER_SECONDS="0")
    server.events_token = "kill-token"
    acknowledged: dict[str, list[str]] = {}  # user id -> acknowledged titles, in order
    lock = threading.Lock()
    stop = threading.Event()

    def drive(worker: int) -> None:
        with server.client() as http:
            mine: list[str] = []
            for n in range(100_000):
                if stop.is_set():
                    return
                try:
                    if n % 2 == 0 or not mine:
                        body = {"schemas": [USER_SCHEMA], "userName": f"w{worker}-{n}"}
                        answer = http.post("/Users", json=body)
                        if answer.status_code == 201:
                            mine.append(answer.json()["id"])
                            with lock:
                                acknowledged[mine[-1]] = []
                    else:
                        user_id = mine[n % len(mine)]
                        operation = {"op": "replace", "path": "title", "value": f"t{n}"}
                        body = {"schemas": [PATCH_SCHEMA], "Operations": [operation]}
                        if http.patch(f"/Users/{user_id}", json=body).status_code == 200:
                            with lock:
                                acknowledged[user_id].append(f"t{n}")
                except httpx.HTTPError:
                    return

    threads = [threading.Thread(target=drive, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    server.stop(signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    server.start()
    found: list[dict[str, Any]] = []
    while True:
        page = server.poll(maxEvents=1000)
        found += [claims_of(t) for t in page["sets"].values()]
        server.poll(maxEvents=0, ack=list(page["sets"]))
        if not page["moreAvailable"]:
            break
    by_user: dict[str, list[dict[str, Any]]] = {}
    for claims in found:
        by_user.setdefault(claims["sub_id"]["uri"].rsplit("/", 1)[1], []).append(claims)
    assert sum(len(t) + 1 for t in acknowledged.values()) > 100, "too little load to mean much"
    for user_id, titles in acknowledged.items():
        mine = by_user.get(user_id, [])
        assert mine, f"acknowledged user {user_id} has no event"
        assert "urn:ietf:params:scim:event:prov:create:full" in mine[0]["events"]
        versions = [int(next(iter(c["events"].values()))["version"][3:-1]) for c in mine]
        assert versions == list(range(1, len(mine) + 1)), "events out of order or missing"
        patched = [
            op["value"]
            for c in mine[1:]
            for op in c["events"]["urn:ietf:params:scim:event:prov:patch:full"]["data"][
                "Operations"
            ]
        ]
        # The PATCH in flight at the kill may have committed unacknowledged: one extra at most.
        assert patched[: len(titles)] == titles and len(patched) <= len(titles) + 1


def test_the_lease_passes_to_another_worker_when_its_holder_dies(
    run_server: Callable[..., Server],
) -> None:
    receiver = Receiver()
    receiver.start()
    server = run_server(SCIM_EVENTS_PUSH_URLS=receiver.url, **PUSH)
    try:
        with server.client() as http:
            for n in range(5):
                create(http, f"before{n}")
        receiver.wait_for(5)
        with sqlite3.connect(server.tmp / "scim.db") as db:
            (holder,) = db.execute("SELECT holder FROM event_leases").fetchone()
        os.kill(int(holder.split(":")[1]), signal.SIGKILL)  # that worker alone
        with server.client() as http:  # a new connection: the old one may be the dead worker's
            for n in range(5):
                create(http, f"after{n}")
        receiver.wait_for(10)
    finally:
        receiver.stop()
    names = [f"before{n}" for n in range(5)] + [f"after{n}" for n in range(5)]
    assert list(dict.fromkeys(_name(c) for c, s in receiver.received if s == 202)) == names
    assert "delivers and prunes now" in server.log()
