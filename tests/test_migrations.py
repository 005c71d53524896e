"""The migrations build exactly the models' schema, and go down and up again cleanly."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.core import migrations
from app.models import Base


def _run(url: str, fn):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _triggers(connection: Connection) -> set[str]:
    rows = connection.exec_driver_sql(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass AND NOT tgisinternal"
    )
    return {row[0] for row in rows}


def test_autogenerate_finds_no_difference(fresh_database_url: str) -> None:
    assert _run(fresh_database_url, _diff) == []


def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    migrations.upgrade(empty_database_url)
    tables = _run(empty_database_url, _tables)
    assert set(Base.metadata.tables) <= tables
    assert _run(empty_database_url, _triggers) == {
        "audit_log_chain",
        "audit_log_no_update_delete",
        "audit_log_no_truncate",
    }
    migrations.downgrade(empty_database_url, "base")
    assert _run(empty_database_url, _tables) == {"alembic_version"}
    migrations.upgrade(empty_database_url)
    assert set(Base.metadata.tables) <= _run(empty_database_url, _tables)
    assert _run(empty_database_url, _diff) == []
