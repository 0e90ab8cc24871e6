"""The ceiling: the least a Connexion AsyncApp can do for the `lookup` request.

Same gunicorn command, worker class and worker count as the server; same query parameters and
bearer security; an async handler that returns a constant ListResponse of one user. Served as
`gunicorn ... "bench.ceiling:create_app()"` with SCIM_TOKEN set.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Any

import connexion

TOKEN = os.environ.get("SCIM_TOKEN", "")
NAME = "user000042@example.com"
USER_ID = "2819c223-7f76-453a-919d-413861904646"
LIST_RESPONSE: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
    "totalResults": 1,
    "startIndex": 1,
    "itemsPerPage": 1,
    "Resources": [
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": USER_ID,
            "userName": NAME,
            "name": {"givenName": "Test", "familyName": "User42"},
            "emails": [{"primary": True, "value": NAME, "type": "work"}],
            "displayName": "Test User42",
            "locale": "en-US",
            "externalId": "00u00000000000000042",
            "active": True,
            "meta": {
                "resourceType": "User",
                "created": "2024-01-01T00:00:00.000Z",
                "lastModified": "2024-01-01T00:00:00.000Z",
                "location": f"http://127.0.0.1/scim/v2/Users/{USER_ID}",
                "version": 'W/"1"',
            },
        }
    ],
}


def token_info(token: str) -> dict[str, str] | None:
    """The same constant-time comparison the server's bearer check does."""
    matched = hmac.compare_digest(token.encode(), TOKEN.encode())
    return {"sub": "bench"} if matched else None


async def search(**_params: Any) -> tuple[dict[str, Any], int]:
    """GET /Users: the constant answer, whatever was asked."""
    return LIST_RESPONSE, 200


def create_app() -> connexion.AsyncApp:
    """The ceiling app, built like app.main.create_app minus everything SCIM."""
    app = connexion.AsyncApp(__name__, specification_dir=str(Path(__file__).parent))
    app.add_api("ceiling.yaml", strict_validation=True, pythonic_params=True)
    return app
