"""The fault drill of issue #9: kill -9 the whole server under a write load, restart it, and
find every acknowledged write; two servers on one machine start side by side.

What this proves and what it does not: kill -9 ends the processes, but the kernel keeps the
page cache, so a commit SQLite handed to the kernel survives even without an fsync. The test
shows that no acknowledged write is lost to a process crash, that the database is intact and
that a restart trips over nothing left behind. Surviving a power loss or an OS crash needs the
fsync on every commit that SCIM_SYNCHRONOUS=FULL (the default) makes, which no test here can
cut the power on (README.md, "Durability").

The servers are started as `make serve` starts them (`python -m app.serve`), with HOME pointed
at a temporary directory: gunicorn's default control socket would be ~/.gunicorn/gunicorn.ctl,
one path for every server of a user.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow
logging.getLogger("httpx").setLevel(logging.WARNING)  # thousands of requests, one line each

ROOT = Path(__file__).resolve().parent.parent
THREADS = 6
LOAD_SECONDS = 2.0
KILLS = 2
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class Server:
    """One `python -m app.serve` (gunicorn, 2 workers) in a process group of its own."""

    db: Path
    home: Path
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        """The SCIM base URL."""
        return f"http://127.0.0.1:{self.port}/scim/v2"

    def start(self) -> None:
        """Start on a free port and wait until it answers."""
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_")}
        env |= {"SCIM_DB": str(self.db), "SCIM_TOKEN": self.token, "HOME": str(self.home)}
        env |= {"HOST": "127.0.0.1", "PORT": str(self.port), "WORKERS": "2"}
        with (self.db.parent / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.serve"],
                cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if httpx.get(f"{self.base}/ServiceProviderConfig", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("server did not start:\n" + self.output())

    def kill(self) -> None:
        """kill -9 the master and its workers at once (the whole process group)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, as an operator stops it."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def output(self) -> str:
        """The server's log so far."""
        return (self.db.parent / "server.log").read_text(errors="replace")[-3000:]


@dataclass
class Ledger:
    """What the server acknowledged: created users and each user's last acknowledged title.

    `maybe` holds the title of a PATCH in flight when the server died: it may or may not
    have committed, and either is correct.
    """

    created: dict[str, str] = field(default_factory=dict)  # id -> userName
    titles: dict[str, str] = field(default_factory=dict)
    maybe: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _drive(server: Server, ledger: Ledger, worker: int, round_: int, stop: threading.Event) -> None:
    """Create users and PATCH their titles, one request at a time, until the server dies."""
    headers = {"Authorization": f"Bearer {server.token}"}
    mine: list[str] = []
    with httpx.Client(base_url=server.base, headers=headers, timeout=5) as http:
        for n in range(100_000):
            if stop.is_set():
                return
            try:
                if n % 2 == 0 or not mine:
                    name = f"r{round_}-w{worker}-{n}"
                    body = {"schemas": [USER_SCHEMA], "userName": name, "title": "t0"}
                    response = http.post("/Users", json=body)
                    if response.status_code == 201:
                        with ledger.lock:
                            ledger.created[response.json()["id"]] = name
                            ledger.titles[response.json()["id"]] = "t0"
                        mine.append(response.json()["id"])
                    else:
                        ledger.errors.append(f"POST {response.status_code} {response.text}")
                else:
                    user_id, title = mine[n % len(mine)], f"t{n}"
                    operation = {"op": "replace", "path": "title", "value": title}
                    ledger.maybe[user_id] = title
                    body = {"schemas": [PATCH_SCHEMA], "Operations": [operation]}
                    response = http.patch(f"/Users/{user_id}", json=body)
                    if response.status_code == 200:
                        with ledger.lock:
                            ledger.titles[user_id] = title
                    else:
                        ledger.errors.append(f"PATCH {response.status_code} {response.text}")
            except httpx.HTTPError:
                return  # the server is gone; the request in flight was not acknowledged


def test_kill_9_under_write_load_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """Five-times drill in small: KILLS rounds of load, kill -9, restart, check everything."""
    server = Server(tmp_path / "a" / "scim.db", tmp_path)
    neighbour = Server(tmp_path / "b" / "scim.db", tmp_path)  # same HOME: same default socket
    server.db.parent.mkdir()
    neighbour.db.parent.mkdir()
    ledger = Ledger()
    try:
        server.start()
        neighbour.start()
        for round_ in range(KILLS):
            stop = threading.Event()
            threads = [
                threading.Thread(target=_drive, args=(server, ledger, w, round_, stop))
                for w in range(THREADS)
            ]
            for thread in threads:
                thread.start()
            time.sleep(LOAD_SECONDS)
            server.kill()  # mid-load: every thread has a request in flight or about to be
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
            assert not ledger.errors, ledger.errors[:5]
            server.start()  # nothing left behind by kill -9 stops the restart
            _check(server, ledger)
        acknowledged = len(ledger.created) + sum(t != "t0" for t in ledger.titles.values())
        assert acknowledged > 100, "the load acknowledged too few writes to mean much"
        print(f"{len(ledger.created)} creates acknowledged over {KILLS} kills, none lost")
        response = httpx.get(f"{neighbour.base}/Users", headers=_auth(neighbour), timeout=5)
        assert response.status_code == 200, "the neighbour server stopped answering"
        assert not (tmp_path / ".gunicorn").exists(), "a gunicorn control socket was created"
    finally:
        server.stop()
        neighbour.stop()
    with sqlite3.connect(server.db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _check(server: Server, ledger: Ledger) -> None:
    """Every acknowledged user is there with its acknowledged (or in-flight) title."""
    with httpx.Client(base_url=server.base, headers=_auth(server), timeout=10) as http:
        for user_id, name in ledger.created.items():
            response = http.get(f"/Users/{user_id}")
            assert response.status_code == 200, f"acknowledged user {name} lost"
            title = response.json()["title"]
            allowed = {ledger.titles[user_id], ledger.maybe.get(user_id)}
            assert title in allowed, f"{name}: title {title!r}, acknowledged {allowed}"


def _auth(server: Server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
