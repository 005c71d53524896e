"""Which database errors are worth running a transaction again for."""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError

from app.core.db import is_transient


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
