"""The gunicorn worker: uvicorn with lifespan on, so a broken spec stops the server at start."""

import logging
from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker


class ScimWorker(UvicornWorker):
    """UvicornWorker whose lifespan is "on" (the default "auto" hides start-up failures)."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "auto",
        "http": "auto",
        "lifespan": "on",
        "access_log": False,
    }

    def init_process(self) -> None:
        """Configure the app's logging in the serving process, then run the worker."""
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        super().init_process()
