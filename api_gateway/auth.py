"""Bearer-token authentication: reads are open, writes need the configured token."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from . import config
from .errors import APIError

ANON = "stapi_anon"
WRITER = "stapi_writer"


def has_valid_token(request: Request) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), str(config.WRITE_TOKEN))


def role_for(request: Request, write: bool) -> str:
    """The database role for this request. A write without a valid token is a 401 before any SQL runs."""
    if not write:
        return ANON
    if not request.headers.get("authorization"):
        raise APIError(401, "this request writes data: send Authorization: Bearer <token>")
    if not has_valid_token(request):
        raise APIError(401, "the bearer token is not valid")
    return WRITER
