"""Database engine and sessions. One transaction per request or task: commit on success."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

import asyncpg
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:
    from app.core.config import Settings

T = TypeVar("T")

# What a command-line tool catches to say "cannot reach or use the database" in one line.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (OSError, SQLAlchemyError, asyncpg.PostgresError)


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


def engine_from_settings(settings: Settings, application_name: str) -> AsyncEngine:
    """The engine of a long-lived process (API, worker), sized and timed by the settings."""
    settings.require("database_url")
    assert settings.database_url is not None
    return create_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        connect_timeout=settings.db_connect_timeout_seconds,
        application_name=application_name,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def session_scope(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """Yield a session; commit once if the caller finished without error, else roll back.

    An error carrying `on_rollback` work (see core/errors.py) gets it run and committed after
    the rollback.
    """
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException as exc:
            await session.rollback()
            await run_after_rollback(session, exc)
            raise
        else:
            await session.commit()


async def run_once(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction on a throwaway engine (CLI and start-up tasks)."""
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with create_sessionmaker(engine)() as session:
            result = await work(session)
            await session.commit()
            return result
    finally:
        await engine.dispose()


async def run_after_rollback(session: AsyncSession, exc: BaseException) -> None:
    """Run and commit the work a failed request wants kept (its refusal's audit row)."""
    work = getattr(exc, "on_rollback", ())
    if work:
        for step in work:
            await step(session)
        await session.commit()
