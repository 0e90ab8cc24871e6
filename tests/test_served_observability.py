"""The access log, the journal, /metrics and the health checks of a real server: gunicorn with
two workers, each counting and journaling for itself (app/worker.py, app/metrics.py)."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.served import serve

pytestmark = pytest.mark.slow  # starts gunicorn
logging.getLogger("httpx").setLevel(logging.WARNING)

REQUESTS = 60


def test_two_workers_count_log_and_journal_together(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        for n in range(REQUESTS):  # a connection each, so both workers answer some
            answer = httpx.get(f"{server.base}/Users/missing-{n}", headers=server.auth)
            assert answer.status_code == 404 and answer.headers["x-request-id"]
        assert httpx.get(f"{server.root}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{server.root}/readyz").json() == {"status": "ready"}
        assert httpx.get(f"{server.root}/metrics").status_code == 401
        wanted = 'scim_requests_total{client="other",operation="GET /Users/{user_id}",status="404"}'
        # Whichever worker answers the scrape, it reports both workers' counts.
        for _ in range(8):
            text = httpx.get(f"{server.root}/metrics", headers=server.auth).text
            (line,) = [x for x in text.splitlines() if x.startswith(wanted)]
            assert float(line.split()[-1]) == REQUESTS
        assert "scim_request_duration_seconds_bucket" in text
        time.sleep(1.5)  # the journal writers' batches (BATCH_SECONDS) land
        with sqlite3.connect(tmp_path / "scim.db.journal") as conn:
            (journaled,) = conn.execute(
                "SELECT count(*) FROM exchange WHERE path LIKE '/scim/v2/Users/missing-%'"
            ).fetchone()
        assert journaled == REQUESTS
        log = server.log()
    logged = [line for line in log.splitlines() if " GET /scim/v2/Users/missing-" in line]
    assert len(logged) == REQUESTS
    assert all(
        " 404 " in line and line.endswith("other id=" + line.rsplit("=", 1)[1]) for line in logged
    )
