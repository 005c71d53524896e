"""ASGI middleware: a request id for every request, echoed back and put on every log line; the
client's address and user agent for the audit trail."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.context import client_context, client_var
from app.core.errors import error_body
from app.core.logging import request_id_var

log = logging.getLogger("orca.access")

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RequestIdMiddleware:
    """Take a well-formed X-Request-ID from the client or make one; log one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        supplied = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), ""
        )
        request_id = supplied if _VALID_REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        user_agent = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"user-agent"), None
        )
        client_token = client_var.set(
            client_context((scope.get("client") or (None, 0))[0], user_agent)
        )
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["type"] == "http":
                log.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "client": (scope.get("client") or ("", 0))[0],
                    },
                )
            request_id_var.reset(token)
            client_var.reset(client_token)


_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_UUID = r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}"


class MethodGuard:
    """Answer 405 for a documented path asked with a method it does not have, with an `Allow`
    header that names all it has (HTTP requires that). The router cannot: FastAPI makes one
    route per method, and Starlette's 405 names the methods of the first route whose path
    matched. Paths are those of the documented routes, their id parameters matched as the
    types they are, so `PATCH /systems/import` is a 405 (only POST exists there), not an
    attempt to read `import` as a system id. Paths it does not know pass through untouched.

    Read from the routes themselves, not the OpenAPI document: building that takes most of a
    second more, for every app (every API test made one)."""

    def __init__(self, app: ASGIApp, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self._routes = routes
        self._paths: list[tuple[re.Pattern[str], frozenset[str]]] | None = None

    def _compile(self) -> list[tuple[re.Pattern[str], frozenset[str]]]:
        methods: dict[str, set[str]] = {}
        uuids: dict[str, set[str]] = {}
        # Included routers are flattened by FastAPI (and their routes built) on first use.
        for context in iter_route_contexts(self._routes()):
            route, template = context.route, context.path_format
            if not isinstance(route, APIRoute) or not route.include_in_schema or not template:
                continue
            methods.setdefault(template, set()).update(
                method for method in context.methods or () if method.lower() in _METHODS
            )
            uuids.setdefault(template, set()).update(
                param.name
                for param in route.dependant.path_params
                if param.field_info.annotation is uuid.UUID
            )
        compiled = []
        for template, allowed in methods.items():
            parts = []
            for part in template.split("/"):
                name = part[1:-1] if part.startswith("{") and part.endswith("}") else None
                if name is None:
                    parts.append(re.escape(part))
                else:
                    parts.append(_UUID if name in uuids[template] else "[^/]+")
            compiled.append((re.compile("/".join(parts)), frozenset(allowed)))
        return compiled

    def allowed(self, path: str) -> frozenset[str] | None:
        """The methods `path` answers, or None for a path the document does not describe."""
        if self._paths is None:
            self._paths = self._compile()
        found = [methods for pattern, methods in self._paths if pattern.fullmatch(path)]
        return frozenset().union(*found) if found else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            allowed = self.allowed(scope["path"])
            if allowed is not None and scope["method"] not in allowed:
                listed = ", ".join(sorted(allowed))
                message = f"{scope['method']} is not allowed here; use {listed}."
                await _refuse(
                    scope, receive, send, 405, "method_not_allowed", message, {"Allow": listed}
                )
                return
        await self.app(scope, receive, send)


MAX_HEADER_BYTES = 32 * 1024
MAX_HEADERS = 100
# The body of a refused request is not read: the connection cannot be used again.
_CLOSE = {"Connection": "close"}


class RequestLimits:
    """Refuse what no client of ours sends, before any of it is parsed or kept: more than
    `MAX_HEADERS` headers or `MAX_HEADER_BYTES` of them (431), a body over `max_body_bytes`
    (413: at once when Content-Length says so, else as soon as that much has arrived)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        size = sum(len(name) + len(value) for name, value in headers)
        if len(headers) > MAX_HEADERS or size > MAX_HEADER_BYTES:
            await _refuse(
                scope,
                receive,
                send,
                431,
                "request_headers_too_large",
                f"The request's headers are too large (at most {MAX_HEADERS} headers and "
                f"{MAX_HEADER_BYTES // 1024} KiB).",
                _CLOSE,
            )
            return
        limit = self.max_body_bytes
        declared = next((value for name, value in headers if name == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(scope, receive, send, 413, "payload_too_large", _too_large(limit), _CLOSE)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # FastAPI passes an HTTPException raised while reading the body through
                    # to the error handler, which answers with the error body.
                    raise HTTPException(413, _too_large(limit))
            return message

        await self.app(scope, counted, send)


def _too_large(limit: int) -> str:
    return f"The request body is too large (at most {limit // (1024 * 1024)} MiB)."


async def _refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Answer with the error body every error has (core/errors.py), before any route runs."""
    response = JSONResponse(error_body(code, message), status_code=status, headers=headers)
    await response(scope, receive, send)
