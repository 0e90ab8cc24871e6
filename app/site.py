"""What the server answers outside the SCIM API: /console, /metrics, /healthz, /readyz.

These are not SCIM resources and are not in openapi/scim.yaml: a small Starlette router takes
them before Connexion routes, and every other path goes on to Connexion, so an unknown path is
still a SCIM 404. The console and /metrics are behind the SCIM token; the health checks are
open, for load balancers.
"""

from __future__ import annotations

from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

CONSOLE = "/console"
_ROOT_PATHS = {"/metrics": "/metrics", "/healthz": "/healthz", "/readyz": "/readyz"}


def owns(path: str) -> bool:
    """Whether a request path is one of these (and so not SCIM, and not journaled)."""
    return path in _ROOT_PATHS or path == CONSOLE or path.startswith(CONSOLE + "/")


def label(path: str) -> str:
    """A bounded name for metrics: the root path, or /console for every console page."""
    return _ROOT_PATHS.get(path, CONSOLE)


def router() -> Router:
    """The routes outside the SCIM API."""
    from app import console, health, metrics  # the console imports the store, which imports us

    return Router(
        routes=[
            Route("/healthz", health.live, methods=["GET", "HEAD"]),
            Route("/readyz", health.ready, methods=["GET", "HEAD"]),
            Route("/metrics", metrics.endpoint, methods=["GET", "HEAD"]),
            Mount(CONSOLE, app=console.app()),
        ]
    )


class Site:
    """Middleware: the paths above go to their router, everything else to Connexion."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.router = router()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and owns(scope["path"]):
            await self.router(scope, receive, send)
        else:
            await self.app(scope, receive, send)
