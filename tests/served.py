"""A real server for the slow tests: `python -m app.serve` (what `make serve` runs: gunicorn
with two workers) on a free port of 127.0.0.1, over a database in a temporary directory."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Served:
    """A running server: where it listens, its token, its files."""

    root: str
    token: str
    directory: Path

    @property
    def base(self) -> str:
        """The SCIM base URL."""
        return f"{self.root}/scim/v2"

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header for SCIM requests."""
        return {"Authorization": f"Bearer {self.token}"}

    def log(self) -> str:
        """What the server printed (stdout and stderr: the access log is there)."""
        return (self.directory / "server.log").read_text(errors="replace")


@contextmanager
def serve(directory: Path, workers: int = 2, **settings: str) -> Iterator[Served]:
    """Start the server, wait until /readyz answers 200, stop it with SIGTERM at the end."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_urlsafe(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCIM_", "PROMETHEUS_"))}
    env |= {"SCIM_DB": str(directory / "scim.db"), "SCIM_TOKEN": token, "HOME": str(directory)}
    env |= {"HOST": "127.0.0.1", "PORT": str(port), "WORKERS": str(workers), **settings}
    with (directory / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.serve"],
            cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
    served = Served(f"http://127.0.0.1:{port}", token, directory)
    try:
        _wait_ready(process, served)
        yield served
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_ready(process: subprocess.Popen[bytes], served: Served) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, served.log()[-3000:]
        try:
            if httpx.get(f"{served.root}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not start:\n" + served.log()[-3000:])
