"""Dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.connectors.registry import Connectors
from app.core.config import Settings
from app.core.db import session_scope
from app.core.errors import Unavailable
from app.core.vault import Vault
from app.services.dispatch import Dispatcher


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # A context manager, not `async for`: the endpoint's exception must reach session_scope
    # itself, which decides between commit and rollback by it.
    async with session_scope(request.app.state.sessionmaker) as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_redis(request: Request) -> Redis:
    redis: Redis = request.app.state.redis
    return redis


# scope="function": the session commits when the endpoint returns, before the response is
# sent, so a failed commit becomes an error response instead of a success that lost data.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[Redis, Depends(get_redis)]


def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    """For work that outlives the request's own session (a streamed export)."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return maker


SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]


def get_vault(request: Request) -> Vault:
    vault: Vault | None = request.app.state.vault
    if vault is None:  # `orca api` refuses to start without keys; an embedding app may not
        raise Unavailable("ORCA_ENCRYPTION_KEYS is not set: credentials cannot be opened")
    return vault


VaultDep = Annotated[Vault, Depends(get_vault)]


def get_connectors(request: Request) -> Connectors:
    connectors: Connectors = request.app.state.connectors
    return connectors


ConnectorsDep = Annotated[Connectors, Depends(get_connectors)]


def get_dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
