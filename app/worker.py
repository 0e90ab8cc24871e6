"""The gunicorn worker: uvicorn with lifespan on, so a broken spec stops the server at start."""

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
