"""Database engine and sessions. One transaction per request or task: commit on success."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    connect_timeout: float = 5.0,
    application_name: str = "orca",
) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # A restarted PostgreSQL leaves dead connections in the pool; test them on checkout so
        # the first request after an outage succeeds instead of failing once per stale slot.
        pool_pre_ping=True,
        pool_timeout=connect_timeout,
        connect_args={
            "timeout": connect_timeout,
            "command_timeout": 60,
            "server_settings": {"application_name": application_name, "timezone": "UTC"},
        },
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def session_scope(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """Yield a session; commit once if the caller finished without error, else roll back."""
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
