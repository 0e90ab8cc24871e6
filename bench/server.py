"""gunicorn for the bench: start, wait until ready, stop, and read the processes' cost in /proc."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Server:
    """A running gunicorn master: its pid, where it listens, where it logs."""

    pid: int
    port: int
    log: Path

    @property
    def url(self) -> str:
        """The root URL wrk connects to (paths come from the Lua script)."""
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """The pids of the master's children, the workers."""
        return [pid for pid, ppid in _processes() if ppid == self.pid]

    def cpu_seconds(self) -> float:
        """utime + stime of the master and all its workers, threads included."""
        return sum(_stat(pid)[1] for pid in [self.pid, *self.workers()])

    def rss_mb(self) -> list[float]:
        """VmRSS of each worker in MB."""
        return [_rss_kb(pid) / 1024 for pid in self.workers()]


@contextmanager
def serve(
    app: str, workers: int, env: dict[str, str], ready_path: str, token: str, log: Path
) -> Iterator[Server]:
    """Run `gunicorn app` with the project's worker class until the block ends."""
    port = free_port()
    command = [
        str(GUNICORN), "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
        "--no-control-socket", "--graceful-timeout", "5",
        "--worker-class", "app.worker.ScimWorker", app,
    ]  # fmt: skip
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=clean | env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(process.pid, port, log)
    try:
        _wait_ready(process, server, workers, ready_path, token)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ensure_wrk(install: bool) -> str:
    """The path of wrk, installing the Debian package first if it is missing and allowed."""
    found = shutil.which("wrk")
    if found or not install:
        if not found:
            raise SystemExit("wrk is not installed (apt-get install wrk); --no-install given")
        return found
    print("wrk not found: installing the Debian package", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("apt-get installed wrk but it is not on PATH")
    return found


def _wait_ready(
    process: subprocess.Popen[bytes], server: Server, workers: int, path: str, token: str
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(server.url + path, headers=auth)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(request, timeout=2) as answer:
                if answer.status == 200 and len(server.workers()) == workers:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.url}{path} not ready after 60 s; see {server.log}")


def postgres_cpu_seconds() -> float:
    """CPU seconds used so far by the processes of this machine's PostgreSQL server (named
    `postgres`): a request's share of the database's work, when the server is PostgreSQL."""
    total = 0.0
    for pid, _ in _processes():
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "postgres":
                    total += _stat(pid)[1]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def _processes() -> Iterator[tuple[int, int]]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                yield int(entry), _stat(int(entry))[0]
            except (FileNotFoundError, ProcessLookupError):
                continue  # it exited while we looked


def _stat(pid: int) -> tuple[int, float]:
    """(ppid, CPU seconds) from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # the name in (...) may hold spaces
    # After the name: state, ppid, ... utime is field 14 and stime field 15 (proc(5)).
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
