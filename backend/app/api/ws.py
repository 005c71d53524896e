"""Live events over WebSocket: `GET /api/v1/ws` (see services/live.py for the protocol).

Authentication never puts the access token in a URL (URLs end up in proxy logs and browser
history): either get a single-use ticket from `POST /api/v1/ws/ticket` and connect with
`?ticket=...` within 30 seconds, or connect bare and send `{"op": "auth", "token": "<access
token>"}` as the first message within 10 seconds.

Client → server:
    {"op": "subscribe", "job_id": J, "output": true, "after": {"<execution id>": seq, ...}}
    {"op": "subscribe", "execution_id": E, "after_seq": seq}
    {"op": "subscribe", "feed": true, "after_seq": seq}        every job the user may see
    {"op": "unsubscribe", "job_id": J} / {"execution_id": E} / {"feed": true}
    {"op": "ping"}
Server → client: hello, subscribed, job, execution, output, output.gap, caught_up,
unsubscribed, ping, pong, error. Close codes: 4401 not authenticated or session ended,
4403 not allowed to read jobs, 4008 slow consumer.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.websockets import WebSocketState

from app.api.deps import RedisDep
from app.auth.dependencies import authenticate, principal_for, requires
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.core.config import Settings
from app.schemas.jobs import Ticket
from app.services import live

router = APIRouter(tags=["live"])

TICKET_SECONDS = 30
AUTH_SECONDS = 10.0
_TICKET_KEY = "orca:ws-ticket:"


def _ticket_key(ticket: str) -> str:
    return _TICKET_KEY + hashlib.sha256(ticket.encode()).hexdigest()


@router.post("/ws/ticket", response_model=Ticket, summary="Get a WebSocket ticket")
async def create_ticket(
    principal: Annotated[Principal, requires(Permission.jobs_read)], redis: RedisDep
) -> Ticket:
    """A single-use ticket for `GET /api/v1/ws?ticket=...`, valid 30 seconds, bound to this
    login: a logout or password change before it is used voids it."""
    ticket = secrets.token_urlsafe(32)
    value = json.dumps(
        {
            "user_id": str(principal.id),
            "session_id": str(principal.session_id),
            "token_version": principal.token_version,
        }
    )
    await redis.set(_ticket_key(ticket), value, ex=TICKET_SECONDS)
    return Ticket(ticket=ticket, expires_in=TICKET_SECONDS)


async def _redeem(
    redis: Redis, sessionmaker: async_sessionmaker[AsyncSession], ticket: str
) -> Principal | None:
    raw = await redis.getdel(_ticket_key(ticket))
    if raw is None:
        return None
    data = json.loads(raw)
    user_id, session_id = uuid.UUID(data["user_id"]), uuid.UUID(data["session_id"])
    version = int(data["token_version"])
    async with sessionmaker() as session:
        return await principal_for(session, user_id, session_id, version)


@router.websocket("/ws")
async def websocket_endpoint(
    websocket: WebSocket,
    ticket: Annotated[str | None, Query(max_length=200)] = None,
) -> None:
    """Live job, execution and output events, replayed from the last seq the client holds."""
    app = websocket.app
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    redis = app.state.redis
    settings = app.state.settings
    await websocket.accept()
    principal: Principal | None = None
    try:
        if ticket:
            principal = await _redeem(redis, sessionmaker, ticket)
        else:
            principal = await _first_message_auth(websocket, sessionmaker, settings)
    except WebSocketDisconnect:
        return
    if principal is None:
        await websocket.close(live.CLOSE_UNAUTHORIZED, "not authenticated")
        return
    signed_in = principal
    if not principal.can(Permission.jobs_read):
        await websocket.close(live.CLOSE_FORBIDDEN, "your role may not read jobs")
        return

    async def recheck() -> Principal | None:
        async with sessionmaker() as session:
            return await principal_for(
                session, signed_in.id, signed_in.session_id, signed_in.token_version
            )

    async def receive() -> str:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise live.Closed(int(message.get("code") or 1000), "client left")
        text = message.get("text")
        if not isinstance(text, str):
            raise live.Closed(1003, "send text frames (JSON)")
        return text

    async def send(text: str) -> None:
        try:
            await websocket.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError) as gone:
            raise live.Closed(1006, "client left") from gone

    session = live.LiveSession(principal, sessionmaker, redis, send, recheck)
    await websocket.send_text(
        json.dumps(
            {
                "type": "hello",
                "user": {"id": str(principal.id), "username": principal.username},
                "role": principal.role.value,
            }
        )
    )
    closed = await session.run(receive)
    if websocket.client_state == WebSocketState.CONNECTED:
        try:
            await websocket.close(closed.code, closed.reason[:120])
        except (RuntimeError, WebSocketDisconnect):  # the client left first
            pass


async def _first_message_auth(
    websocket: WebSocket, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> Principal | None:
    try:
        text = await asyncio.wait_for(websocket.receive_text(), timeout=AUTH_SECONDS)
        message = json.loads(text)
    except (TimeoutError, ValueError):
        return None
    if not isinstance(message, dict) or message.get("op") != "auth":
        return None
    token = message.get("token")
    if not isinstance(token, str) or len(token) > 4096:
        return None
    async with sessionmaker() as session:
        return await authenticate(session, settings, token)
