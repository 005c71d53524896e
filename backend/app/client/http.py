"""The HTTP session to one Orca server: authentication, transparent refresh, errors.

Every request carries the stored access token. When it has expired (by the expiry the server
gave, or because the server answers 401), the refresh token is spent once for a new pair,
which is saved before the request is retried; if that fails too, the session is over and the
command ends with "run `orca login`" (exit 3). Transport failures (refused, DNS, timeout, TLS)
become one line naming the server (exit 4), never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from app import __version__
from app.client.config import Login, Store
from app.client.errors import (
    EXIT_USAGE,
    ApiError,
    AuthRequired,
    Unreachable,
    UsageError,
)

if TYPE_CHECKING:
    import httpx

# httpx is imported where it is used: it costs a tenth of a second, and every `orca` command,
# `orca version` and the server's own included, imports this module when the CLI is built.
API = "/api/v1"
USER_AGENT = f"orca-cli/{__version__}"
TIMEOUT_SECONDS, CONNECT_TIMEOUT_SECONDS = 30.0, 10.0
SESSION_OVER = "your session has expired or was ended: run `orca login`"


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The system's trusted CAs and certifi's, plus `ca_bundle` (a private CA) when given.
    Hostnames and certificates are always verified."""
    context = ssl.create_default_context()
    with contextlib.suppress(ImportError, OSError):
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    if ca_bundle:
        try:
            context.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot use the CA bundle {ca_bundle}: {exc}") from None
    return context


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def transport_failure(exc: BaseException, server: str) -> Unreachable:
    """One line for a request that never got an answer."""
    import httpx

    chain = _causes(exc)
    for cause in chain:
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or cause.reason or "certificate verify failed"
            return Unreachable(
                f"cannot verify the TLS certificate of {server} ({reason}); if a private CA "
                "signed it, log in again with `--ca-bundle FILE`"
            )
    for cause in chain:
        if isinstance(cause, ssl.SSLError):
            reason = cause.reason or str(cause)
            hint = " (is it an http:// server?)" if "WRONG_VERSION" in str(reason).upper() else ""
            return Unreachable(f"TLS with {server} failed: {reason}{hint}")
    if any(isinstance(cause, httpx.TimeoutException | TimeoutError) for cause in chain):
        return Unreachable(f"the Orca server at {server} did not answer in time")
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            return Unreachable(f"cannot resolve the host of {server} ({cause.strerror})")
        if isinstance(cause, ConnectionRefusedError):
            return Unreachable(f"cannot reach the Orca server at {server}: connection refused")
    for cause in chain:
        if isinstance(cause, OSError) and cause.strerror:
            return Unreachable(f"cannot reach the Orca server at {server}: {cause.strerror}")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return Unreachable(f"the connection to {server} broke off before an answer")
    return Unreachable(f"cannot reach the Orca server at {server}: {exc or type(exc).__name__}")


def api_error(response: httpx.Response, server: str) -> ApiError:
    """The error body's message and offending fields, or a plain line for a non-Orca answer
    (a proxy's 502 page, a URL that is not an Orca server)."""
    status = response.status_code
    try:
        body = response.json()
        error = body["error"]
        code, message = str(error["code"]), str(error["message"])
        details = error.get("details")
    except (ValueError, KeyError, TypeError):
        phrase = response.reason_phrase or "error"
        hint = ": is this the URL of an Orca server?" if status in {404, 405} else ""
        return ApiError(
            status,
            "http_error",
            f"HTTP {status} {phrase} from {server}{hint}",
            exit_code=4 if status >= 500 or hint else EXIT_USAGE,
        )
    if status == 429 and (retry := response.headers.get("retry-after")):
        message += f" (retry in {retry} s)"
    exit_code = 4 if status >= 500 else 3 if status == 401 else EXIT_USAGE
    return ApiError(status, code, message, details, exit_code=exit_code)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    total: int | None


class Api:
    """Requests to one server as one logged-in user (or anonymously, for logging in)."""

    def __init__(self, store: Store, login: Login, *, anonymous: bool = False) -> None:
        self.store = store
        self.login = login
        self.anonymous = anonymous
        self.ssl = ssl_context(login.ca_bundle)
        import httpx

        self._client = httpx.AsyncClient(
            base_url=login.server + API,
            verify=self.ssl,
            timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )

    @classmethod
    def for_server(cls, server_option: str | None, store: Store | None = None) -> Api:
        store = store or Store()
        server = store.server_for(server_option)
        return cls(store, store.login_for(server))

    @property
    def server(self) -> str:
        return self.login.server

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # Requests --------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        retry_transport: bool = False,
    ) -> httpx.Response:
        """Send, refreshing the session once if the access token is stale; raise ApiError for
        any error answer. `retry_transport`: send once more after a transport failure (only
        for requests safe to repeat, such as a submit with an Idempotency-Key)."""
        request = self._client.build_request(
            method,
            path,
            params=_params(params),
            json=json,
            content=content,
            headers=headers,
        )
        response = await self._send_authenticated(request, retry_transport=retry_transport)
        if response.status_code >= 400:
            await response.aread()
            raise self._error(response)
        return response

    async def get(self, path: str, params: Any = None) -> Any:
        response = await self.request("GET", path, params=params)
        return self._json(response)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = await self.request("POST", path, json=body, **kwargs)
        return self._json(response)

    async def patch(self, path: str, body: Any) -> Any:
        response = await self.request("PATCH", path, json=body)
        return self._json(response)

    async def delete(self, path: str) -> Any:
        response = await self.request("DELETE", path)
        return self._json(response)

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, path: str, *, params: Any = None
    ) -> AsyncIterator[httpx.Response]:
        """A response whose body is read as it arrives (exports, downloads)."""
        request = self._client.build_request(method, path, params=_params(params))
        response = await self._send_authenticated(request, stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                raise self._error(response)
            yield response
        finally:
            await response.aclose()

    async def page(
        self, path: str, params: Mapping[str, Any] | list[tuple[str, Any]], cursor: str | None
    ) -> Page:
        query = list(_params(params) or [])
        if cursor:
            query.append(("cursor", cursor))
        body = await self.get(path, query)
        return Page(list(body["items"]), body.get("next_cursor"), body.get("total"))

    async def collect(
        self,
        path: str,
        params: Mapping[str, Any] | list[tuple[str, Any]],
        *,
        limit: int,
        every: bool,
        cursor: str | None = None,
    ) -> Page:
        """One page of `limit` items, or with `every` all of them (500 a request)."""
        query = [(k, v) for k, v in (_params(params) or []) if k != "limit"]
        if not every:
            return await self.page(path, [*query, ("limit", limit)], cursor)
        items: list[dict[str, Any]] = []
        total = None
        while True:
            page = await self.page(path, [*query, ("limit", 500)], cursor)
            items.extend(page.items)
            total = page.total
            cursor = page.next_cursor
            if cursor is None:
                return Page(items, None, total)

    async def ws_ticket(self) -> str:
        body = await self.post("/ws/ticket")
        return str(body["ticket"])

    def ws_url(self, ticket: str) -> str:
        base = self.server.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return f"{base}{API}/ws?ticket={ticket}"

    # Internals -------------------------------------------------------------------------------

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise Unreachable(
                f"{self.server} answered {response.request.url.path} with something other "
                "than JSON: is this the URL of an Orca server?"
            ) from None

    def _error(self, response: httpx.Response) -> ApiError:
        error = api_error(response, self.server)
        if error.status == 401 and not self.anonymous:
            error.message = SESSION_OVER
            error.details = []
        return error

    async def _send_authenticated(
        self, request: httpx.Request, *, stream: bool = False, retry_transport: bool = False
    ) -> httpx.Response:
        if self.anonymous:
            return await self._send(request, stream=stream, retry_transport=retry_transport)
        if not self.login.access_fresh():
            await self._refresh(self.login.access_token)
        used = self.login.access_token
        request.headers["Authorization"] = f"Bearer {used}"
        response = await self._send(request, stream=stream, retry_transport=retry_transport)
        if response.status_code != 401:
            return response
        await response.aclose()
        await self._refresh(used)
        request.headers["Authorization"] = f"Bearer {self.login.access_token}"
        response = await self._send(request, stream=stream)
        if response.status_code == 401:
            await response.aclose()
            raise AuthRequired(SESSION_OVER)
        return response

    async def _send(
        self, request: httpx.Request, *, stream: bool = False, retry_transport: bool = False
    ) -> httpx.Response:
        import httpx

        attempts = 2 if retry_transport else 1
        for attempt in range(attempts):
            try:
                return await self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                if attempt + 1 < attempts:
                    await asyncio.sleep(1.0)
                    continue
                raise transport_failure(exc, self.server) from None
        raise AssertionError("unreachable")

    async def _refresh(self, stale: str | None) -> None:
        """Replace the access token `stale` with a fresh one, spending the refresh token once
        across every `orca` process of this user (see config.py)."""
        lock = self.store.locked()
        await asyncio.to_thread(lock.__enter__)
        try:
            stored = self.store.load().servers.get(self.server)
            if stored is None or (stored.refresh_token is None and stored.access_token is None):
                raise AuthRequired(f"logged out of {self.server}: run `orca login`")
            if stored.access_token != stale and stored.access_fresh():
                self.login = stored  # another orca refreshed meanwhile
                return
            if stored.refresh_token is None:
                raise AuthRequired(SESSION_OVER)
            request = self._client.build_request(
                "POST", "/auth/refresh", json={"refresh_token": stored.refresh_token}
            )
            response = await self._send(request)
            if response.status_code in {400, 401}:
                self.store.put(stored.signed_out(), make_current=False)
                raise AuthRequired(SESSION_OVER)
            if response.status_code >= 400:
                raise api_error(response, self.server)
            self.login = with_tokens(stored, self._json(response))
            self.store.put(self.login, make_current=False)
        finally:
            lock.__exit__(None, None, None)


def with_tokens(login: Login, body: Mapping[str, Any]) -> Login:
    """`login` holding the pair of a login or refresh answer."""
    return replace(
        login,
        access_token=str(body["access_token"]),
        access_expires_at=time.time() + float(body["expires_in"]),
        refresh_token=body.get("refresh_token"),
        refresh_expires_at=body.get("refresh_expires_at"),
    )


def _params(
    params: Mapping[str, Any] | list[tuple[str, Any]] | None,
) -> list[tuple[str, Any]] | None:
    """Query parameters without the unset ones; a list value repeats its key."""
    if params is None:
        return None
    pairs = params.items() if isinstance(params, Mapping) else params
    out: list[tuple[str, Any]] = []
    for key, value in pairs:
        if value is None or value is False:
            continue
        if isinstance(value, list | tuple):
            out.extend((key, str(each)) for each in value)
        elif value is True:
            out.append((key, "true"))
        else:
            out.append((key, str(value)))
    return out


def new_idempotency_key() -> str:
    return f"orca-cli-{uuid.uuid4()}"
