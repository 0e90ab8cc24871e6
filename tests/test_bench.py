"""The bench harness (make bench, issue 5) runs end to end at tiny sizes; figures are not asserted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts gunicorn, the ceiling and wrk

ROOT = Path(__file__).resolve().parent.parent
SMOKE = {"WORKERS": "1", "BENCH_USERS": "60", "BENCH_MEMBERS": "20", "BENCH_DURATION": "1",
         "BENCH_ROUNDS": "1", "BENCH_WARMUP": "0", "BENCH_CONNECTIONS": "4",
         "BENCH_SCALE_SIZES": "30:5,60:20"}  # fmt: skip


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is missing (make bench installs it)")
@pytest.mark.parametrize(
    "args",
    [
        [
            "--scenarios",
            "lookup,custom_lookup,get,get_nojournal,create_nopw,bulk_create,replace,member_add,member_add_empty,deep_page,deactivate,deactivate+events",
        ],
        ["--scale", "--scenarios", "get,member_add"],
        ["--scenarios", "lookup,tenant_lookup"],
    ],
    ids=["bench", "scale", "tenants"],
)
def test_bench_runs(tmp_path: Path, args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCIM_", "BENCH_"))} | SMOKE
    env["BENCH_TENANTS"] = "3:20"
    command = [sys.executable, "bench/run.py", "--no-install", "--results", str(tmp_path), *args]
    finished = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    (saved,) = tmp_path.glob("*.json")
    for size in json.loads(saved.read_text())["sizes"]:
        for name, summary in size["summary"].items():
            assert summary["rps"] > 0 and summary["errors"] == 0, (name, summary)
            assert summary["cpu_ratio"] > 0, (name, summary)
        for name, found in size["mixed"].items():  # make bench's readers and writers at once
            assert found["rps"] > 0 and found["errors"] == 0, (name, found)
