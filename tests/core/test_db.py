"""Which database errors are worth running a transaction again for; what the engines ask of
the server."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.core.db import create_engine, is_transient
from tests.fixtures.services import TestServices


def _wrapped(error: Exception) -> DBAPIError:
    """As SQLAlchemy raises a driver's error."""
    try:
        raise DBAPIError("INSERT ...", None, error) from error
    except DBAPIError as wrapped:
        return wrapped


def test_deadlock_and_serialization_victims_are_run_again() -> None:
    # PostgreSQL rolled the whole transaction back and asks for it to be retried.
    assert is_transient(_wrapped(asyncpg.DeadlockDetectedError("deadlock detected")))
    assert is_transient(_wrapped(asyncpg.SerializationError("could not serialize access")))
    assert is_transient(ConnectionRefusedError())


def test_a_wrong_statement_is_not() -> None:
    assert not is_transient(_wrapped(asyncpg.UniqueViolationError("duplicate key")))
    assert not is_transient(_wrapped(asyncpg.CheckViolationError("violates check")))
    assert not is_transient(ValueError("bad input"))


async def test_a_transaction_left_idle_is_ended_by_the_server_and_frees_its_locks(
    test_services: TestServices,
) -> None:
    """What a process cut off mid-transaction leaves behind: PostgreSQL ends the session once
    idle past the timeout our engines set, so others no longer wait on the rows it held."""
    cut_off = create_engine(test_services.database_url, idle_in_transaction_seconds=1)
    other = create_engine(test_services.database_url)
    key = 0x0C0A_0001
    try:
        async with cut_off.connect() as held:
            await held.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            async with other.connect() as waiting:
                taken = await waiting.scalar(
                    text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}
                )
                assert taken is False  # held while the transaction lives
                await waiting.rollback()
                await asyncio.sleep(2.5)
                taken = await waiting.scalar(
                    text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}
                )
                assert taken is True  # the server ended the idle transaction
            with pytest.raises(DBAPIError) as ended:
                await held.execute(text("SELECT 1"))
            assert is_transient(ended.value)  # the worker's retry takes it for an outage
    finally:
        await cut_off.dispose()
        await other.dispose()
