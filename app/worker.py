"""The gunicorn worker: uvicorn with lifespan on, so a broken spec stops the server at start."""

import atexit
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker

METRICS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"


class ScimWorker(UvicornWorker):
    """UvicornWorker whose lifespan is "on" (the default "auto" hides start-up failures)."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "auto",
        "http": "auto",
        "lifespan": "on",
        "access_log": False,  # app/observe.py writes the access log
    }

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """In the master, before any worker starts: the metrics directory every worker shares."""
        prepare_metrics_directory()
        cfg.set("child_exit", _child_exit)

    def init_process(self) -> None:
        """Configure the app's logging in the serving process, then run the worker."""
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        super().init_process()


def prepare_metrics_directory() -> str:
    """An empty directory for prometheus-client's multi-process files, in the environment the
    workers inherit (it must be set before they import prometheus_client, app/metrics.py).

    One given in PROMETHEUS_MULTIPROC_DIR is emptied (counts from an earlier run would add
    up with this one's); otherwise a new one is made, and removed when the master exits.
    """
    given = os.environ.get(METRICS_DIRECTORY)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return given
    made = tempfile.mkdtemp(prefix="scim-metrics-")
    os.environ[METRICS_DIRECTORY] = made
    master = os.getpid()

    def remove() -> None:
        if os.getpid() == master:  # workers inherit atexit handlers when forked
            shutil.rmtree(made, ignore_errors=True)

    atexit.register(remove)
    return made


def _child_exit(_server: Any, worker: Any) -> None:
    """gunicorn's hook when a worker exits: its live gauges (backlogs) stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
