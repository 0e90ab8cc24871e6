"""/Me (RFC 7644 §3.11): the resource of the authenticated subject.

The bearer tokens of this server name a provisioning client (an identity provider), never a
user, so there is no subject to map /Me to. RFC 7644 §3.11: a service provider that does not
support /Me "SHOULD respond with HTTP status code 501 (Not Implemented)".
"""

from __future__ import annotations

from app import errors
from app.rendering import Response

DETAIL = "/Me is not supported: the bearer token names a provisioning client, not a user"


async def get() -> Response:
    """RFC 7644 §3.11: 501."""
    raise errors.NotImplementedHere(DETAIL)


async def replace() -> Response:
    """RFC 7644 §3.11: 501."""
    raise errors.NotImplementedHere(DETAIL)


async def patch() -> Response:
    """RFC 7644 §3.11: 501."""
    raise errors.NotImplementedHere(DETAIL)


async def delete() -> Response:
    """RFC 7644 §3.11: 501."""
    raise errors.NotImplementedHere(DETAIL)


async def create() -> Response:
    """RFC 7644 §3.11: 501."""
    raise errors.NotImplementedHere(DETAIL)
