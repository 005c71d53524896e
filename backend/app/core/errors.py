"""One error tree for the whole application, and the one renderer for every error response.

Services raise these; they never raise HTTPException. Every 4xx/5xx leaves the API as
`{"error": {"code": ..., "message": ..., "details": ...}}`, and no stack trace reaches a client.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("orca.errors")


# Work to do once the failed request's transaction is rolled back; it gets the same session.
AfterRollback = Callable[["AsyncSession"], Awaitable[object]]


class OrcaError(Exception):
    status_code = 400
    code = "bad_request"
    default_message = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
        on_rollback: Sequence[AfterRollback] = (),
    ) -> None:
        self.message = message or self.default_message
        self.details = details
        self.headers = headers
        # A refusal that is itself a fact to keep (a failed login's audit row, a token family
        # revoked on reuse): after the request's transaction is rolled back, so that nothing
        # it had half done survives, this work runs and commits in a transaction of its own.
        self.on_rollback = tuple(on_rollback)
        super().__init__(self.message)


class BadRequest(OrcaError):
    pass


class Unauthorized(OrcaError):
    status_code = 401
    code = "unauthorized"
    default_message = "Authentication is required."


class Forbidden(OrcaError):
    status_code = 403
    code = "forbidden"
    default_message = "You do not have permission to do this."


class NotFound(OrcaError):
    status_code = 404
    code = "not_found"
    default_message = "Not found."


class Conflict(OrcaError):
    status_code = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class RateLimited(OrcaError):
    status_code = 429
    code = "rate_limited"
    default_message = "Too many requests; retry later."


class Unavailable(OrcaError):
    status_code = 503
    code = "unavailable"
    default_message = "A service Orca depends on is unavailable; retry shortly."


class ErrorInfo(BaseModel):
    code: str = Field(examples=["validation_error"])
    message: str = Field(examples=["Invalid username: String should have at most 64 characters"])
    details: Any = Field(
        None,
        description="For validation errors, a list of {field, in, message, type}.",
        examples=[[{"field": "username", "in": "body", "message": "too long", "type": "x"}]],
    )


class ErrorBody(BaseModel):
    """Every error response, whatever its status."""

    error: ErrorInfo


# What the OpenAPI document lists for every API route (validation errors included, which
# FastAPI would otherwise describe in a shape we do not send).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "A value the rules refuse (the message names the field)",
        401: "Missing, invalid or expired credentials",
        403: "The caller's role or grants do not allow this",
        404: "No such object, or one the caller may not see",
        409: "Conflicts with the current state",
        422: "The request's shape is wrong (each field named in details)",
        429: "Too many attempts; see Retry-After",
        503: "PostgreSQL or Redis is unreachable; retry shortly",
    }.items()
}

_CONFLICT_STATES = {
    "23505": "Another request just created the same thing; reload and retry.",
    "23503": "A referenced object was just removed, or is still in use; reload and retry.",
}
# Two transactions that could not both go ahead: nothing was changed, and a retry will do.
_RETRY_STATES = {"40001", "40P01"}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def safe_reason(exc: BaseException) -> str:
    """Class name and errno text only: driver messages can echo URLs, users or passwords."""
    reason = type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        reason += f": {exc.strerror}"
    return reason


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def _field_name(location: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "targets", 0, "id") -> "targets[0].id"; the source ("body", "query") is kept apart.
    parts = (
        list(location[1:])
        if location and location[0] in {"body", "query", "path", "header", "cookie"}
        else list(location)
    )
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = err.get("loc", ())
        message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":
            # Its location is ("body", <character offset>), not a field.
            where = loc[1] if len(loc) > 1 else "?"
            field, message = "body", f"not valid JSON (at character {where})"
        else:
            field = _field_name(loc)
        details.append(
            {
                "field": field,
                "in": loc[0] if loc else "body",
                "message": message,
                "type": err.get("type"),
            }
        )
    return details


def _is_unavailable(exc: BaseException) -> bool:
    """True when the exception means PostgreSQL or Redis could not be reached right now."""
    import asyncpg
    import redis.exceptions
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    unreachable = (
        ConnectionError,  # refused, reset, aborted: raised by both drivers' sockets
        TimeoutError,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        asyncpg.CannotConnectNowError,
        asyncpg.ConnectionDoesNotExistError,
        asyncpg.AdminShutdownError,
        OperationalError,
        InterfaceError,
        PoolTimeout,
    )
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, unreachable):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__
    return False


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OrcaError)
    async def _orca(_: Request, exc: OrcaError) -> JSONResponse:
        return _response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = validation_details(exc)
        first = details[0] if details else {"field": "body", "message": "invalid"}
        message = f"Invalid {first['field']}: {first['message']}"
        return _response(422, "validation_error", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(
            exc.status_code, "error" if exc.status_code >= 500 else "bad_request"
        )
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = "No such endpoint."
        if message == "There was an error parsing the body":  # FastAPI's words for any of these
            message = (
                "The request body cannot be read as JSON: not UTF-8, nested too deeply, or a "
                "number too long."
            )
        return _response(exc.status_code, code, message, None, getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # PostgreSQL refused a value the schemas let through (a NUL character in text, a
        # number or time beyond its type): the client's input, so a 400, never a 500.
        log.info("value refused by the database: %s", type(exc.orig).__name__)
        return _response(
            400,
            "bad_request",
            "A value in the request cannot be stored or compared: it contains a NUL character, "
            "or a number or time out of range.",
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # The services check uniqueness and references first, with messages naming the field;
        # this answers the race where two requests pass that check at once.
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if state in _CONFLICT_STATES:
            return _response(409, Conflict.code, _CONFLICT_STATES[state])
        return await _unhandled(request, exc)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if state in _RETRY_STATES:
            return _response(
                409,
                Conflict.code,
                "A concurrent change got in the way; nothing was changed, retry.",
            )
        return await _unhandled(request, exc)

    # Starlette runs this handler outside every middleware, so it sets the request id header
    # itself.
    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        request_id = str(getattr(request.state, "request_id", "") or "")
        headers = {"X-Request-ID": request_id} if request_id else {}
        if _is_unavailable(exc):
            log.warning(
                "dependency unavailable: %s", type(exc).__name__, extra={"request_id": request_id}
            )
            return _response(
                503,
                Unavailable.code,
                Unavailable.default_message,
                {"request_id": request_id},
                {**headers, "Retry-After": "5"},
            )
        # The middleware has already left the request's context: name the request explicitly.
        log.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
        return _response(
            500,
            "internal_error",
            "Internal error; the request id identifies it in the server log.",
            {"request_id": request_id},
            headers,
        )

    # A handler registered for `Exception` runs in Starlette's outermost middleware, which
    # re-raises after answering, and the server then closes the client's connection. The
    # errors a database or Redis outage raises outside SQLAlchemy's own (a refused connect is
    # a bare OSError) get the same handler registered here, where nothing is re-raised: the
    # client gets its 503 and keeps its connection.
    import asyncpg
    import redis.exceptions

    for outage in (
        OSError,
        TimeoutError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        redis.exceptions.RedisError,
    ):
        app.add_exception_handler(outage, _unhandled)
