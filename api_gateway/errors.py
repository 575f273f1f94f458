"""Errors: one exception type for the gateway, one SQLSTATE -> HTTP table for the database.

Every error a client can cause is a 4xx with a JSON body {"code", "description"}. A 500 is always a bug.
"""

from __future__ import annotations

import logging

import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger("api_gateway")

# SQLSTATE -> HTTP status (PostgREST's table). 'PTxyz' means status xyz.
SQLSTATE_STATUS = {
    "P0001": 400,  # raise_exception without an explicit code
    "22023": 400,  # invalid_parameter_value
    "22P02": 400,  # invalid_text_representation
    "22007": 400,  # invalid_datetime_format
    "22008": 400,  # datetime_field_overflow
    "22003": 400,  # numeric_value_out_of_range
    "22004": 400,  # null_value_not_allowed
    "22000": 400,  # data_exception
    "2201B": 400,  # invalid_regular_expression
    "22032": 400,  # invalid_json_text
    "23502": 400,  # not_null_violation
    "23514": 400,  # check_violation
    "XX000": 400,  # internal_error: PostGIS raises it for invalid geometry input
    "P0002": 404,  # no_data_found
    "23505": 409,  # unique_violation
    "23503": 409,  # foreign_key_violation
    "42501": 401,  # insufficient_privilege: the gateway maps "no token" to 401
    "57014": 504,  # query_canceled (statement_timeout)
    "54000": 413,  # program_limit_exceeded
}

CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    422: "UnprocessableEntity",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


class APIError(Exception):
    """An error the client caused (or a dependency failure), with the HTTP status it maps to."""

    def __init__(self, status: int, description: str, code: str | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.code = code or CODES.get(status, "Error")


class BadRequest(APIError):
    def __init__(self, description: str):
        super().__init__(400, description)


class NotFound(APIError):
    def __init__(self, description: str):
        super().__init__(404, description)


def error_response(status: int, description: str, code: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    headers = {**(headers or {}), **({"WWW-Authenticate": "Bearer"} if status == 401 else {})}
    return JSONResponse({"code": code or CODES.get(status, "Error"), "description": description},
                        status_code=status, headers=headers)


def status_for_sqlstate(sqlstate: str | None) -> int:
    if not sqlstate:
        return 500
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])
    if sqlstate in SQLSTATE_STATUS:
        return SQLSTATE_STATUS[sqlstate]
    if sqlstate.startswith("22"):
        return 400
    return 500


def describe_db_error(exc: psycopg.Error) -> str:
    diag = exc.diag
    text = diag.message_primary or str(exc).splitlines()[0]
    if diag.message_detail:
        text += f" ({diag.message_detail})"
    if diag.message_hint:
        text += f". Hint: {diag.message_hint}"
    return text


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return error_response(exc.status, exc.description, exc.code)


async def db_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, psycopg.Error)
    if exc.sqlstate is None and isinstance(exc, psycopg.DataError):
        # raised by psycopg before the query is sent: a path, parameter or body holds a NUL character
        return error_response(400, f"the request holds a value PostgreSQL cannot take: {exc}")
    status = status_for_sqlstate(exc.sqlstate)
    if status >= 500:
        log.exception("database error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(status, "the database could not answer this request" if status == 500
                              else describe_db_error(exc))
    return error_response(status, describe_db_error(exc))


async def http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", None) or CODES.get(status, "Error")
    if status == 404 and detail == "Not Found":
        detail = f"no such path: {request.url.path}"
    headers = getattr(exc, "headers", None) or {}  # Starlette's 405 carries Allow (RFC 9110 requires it): kept
    if status == 405 and "Allow" in headers:
        detail = f"{request.method} is not allowed on {request.url.path}; allowed: {headers['Allow']}"
    return error_response(status, str(detail), headers=headers)


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error (a bug: please report it with the request that caused it)")
