"""Database engine and sessions. One transaction per request or task: commit on success."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

import asyncpg
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.core.redis import REDIS_ERRORS

if TYPE_CHECKING:
    from app.core.config import Settings

T = TypeVar("T")
log = logging.getLogger("orca.db")
_AFTER_COMMIT = "orca_after_commit"

# What a command-line tool catches to say "cannot reach or use the database" in one line.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (OSError, SQLAlchemyError, asyncpg.PostgresError)
# Either store away: what background work (dispatch, the reconciler) logs and leaves to its
# next round.
UNAVAILABLE: tuple[type[BaseException], ...] = (*REDIS_ERRORS, *DATABASE_ERRORS)


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    connect_timeout: float = 5.0,
    application_name: str = "orca",
    idle_in_transaction_seconds: float = 60.0,
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
            "server_settings": {
                "application_name": application_name,
                "timezone": "UTC",
                # A transaction idle this long belongs to a process cut off mid-transaction
                # (none of ours waits that long between statements): the server ends it and
                # frees its rows.
                "idle_in_transaction_session_timeout": str(int(idle_in_transaction_seconds * 1000)),
            },
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
        idle_in_transaction_seconds=settings.db_idle_in_transaction_seconds,
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
            session.info.pop(_AFTER_COMMIT, None)
            await session.rollback()
            await run_after_rollback(session, exc)
            raise
        else:
            await commit(session)


def after_commit(session: AsyncSession, work: Callable[[], Awaitable[object]]) -> None:
    """Run `work` once the session's transaction has committed (publish an event, enqueue a
    task): never for a transaction rolled back, so nobody hears of a change that did not
    happen, and never before the commit, so a worker never looks for a row not there yet."""
    session.info.setdefault(_AFTER_COMMIT, []).append(work)


async def commit(session: AsyncSession) -> None:
    """Commit, then run the work queued by `after_commit()`. That work failing (Redis down) is
    logged, not raised: the change is committed, and the reconciler redoes what was lost."""
    await session.commit()
    for work in session.info.pop(_AFTER_COMMIT, []):
        try:
            await work()
        except REDIS_ERRORS as exc:
            log.warning("work after a commit skipped: Redis unavailable (%s)", type(exc).__name__)
        except Exception:
            log.exception("work after a commit failed")


def discard_after_commit(session: AsyncSession, keep: int = 0) -> None:
    """Forget the work queued by `after_commit()` (all of it, or all but the first `keep`: what
    was queued before a savepoint that has now been rolled back)."""
    queued = session.info.get(_AFTER_COMMIT)
    if queued is not None:
        del queued[keep:]


def after_commit_count(session: AsyncSession) -> int:
    """How much work is queued now (a mark for discard_after_commit(keep=...))."""
    return len(session.info.get(_AFTER_COMMIT, []))


_TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, timed out
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # the connection closed under us
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,
    OperationalError,
    InterfaceError,
    SATimeoutError,  # no pooled connection came free
    # The transaction was rolled back whole to break a deadlock or a serialization conflict:
    # running it again is what PostgreSQL asks for.
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
)


def is_transient(exc: BaseException | None) -> bool:
    """An error saying the database is unreachable or went away (not that the statement was
    wrong): worth trying again. Looks through SQLAlchemy's and the driver's wrappers."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, _TRANSIENT):
            return True
        if isinstance(exc, DBAPIError):
            if exc.connection_invalidated:
                return True
            exc = exc.orig if exc.orig is not None else exc.__cause__
        else:
            exc = exc.__cause__
    return False


async def retrying(
    sessionmaker: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    what: str,
    give_up_after: float = 300.0,
) -> T:
    """Run `work` in a transaction and commit it (with its after-commit work), trying again
    while the database is unreachable, for up to `give_up_after` seconds. `work` must be safe
    to run again: a commit whose answer was lost may have landed."""
    deadline = time.monotonic() + give_up_after
    delay = 0.2
    while True:
        try:
            async with sessionmaker() as session:
                result = await work(session)
                await commit(session)
            _OUTAGE.over()
            return result
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() + delay > deadline:
                raise
            _OUTAGE.begun(what, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


class _Outage:
    """One warning per kind of write when the database goes away, and one line when it is back,
    however many writes wait meanwhile (a worker may have a hundred executions retrying)."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.waiting: set[str] = set()

    def begun(self, what: str, exc: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
        if what not in self.waiting:
            self.waiting.add(what)
            log.warning("%s: database unavailable (%s); retrying", what, type(exc).__name__)

    def over(self) -> None:
        if self.since is not None:
            log.info("the database is back after %.1fs", time.monotonic() - self.since)
            self.since = None
            self.waiting.clear()


_OUTAGE = _Outage()


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
