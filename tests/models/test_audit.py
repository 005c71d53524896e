"""The database itself keeps the audit log append-only and hash-chained."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.models import AuditEvent
from app.services import audit


async def _chain(session: AsyncSession) -> list[AuditEvent]:
    return list((await session.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars())


async def _canonical(session: AsyncSession, seq: int) -> bytes:
    value = await session.scalar(
        text("SELECT orca_audit_canonical(a) FROM audit_log a WHERE seq = :seq"), {"seq": seq}
    )
    return str(value).encode()


async def test_rows_are_numbered_and_chained(session: AsyncSession) -> None:
    first = await audit.record(
        session,
        "user.login",
        actor_username="alice",
        client_ip="127.0.0.1",
        details={"method": "password"},
    )
    second = await audit.record(session, "job.create", target_type="job", target_id="j1")
    assert second.seq == first.seq + 1
    assert second.prev_hash == first.row_hash
    for event in (first, second):
        expected = hashlib.sha256(event.prev_hash + await _canonical(session, event.seq))
        assert event.row_hash == expected.digest()
    assert (await _chain(session))[-1].action == "job.create"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET action = 'forged'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
async def test_history_cannot_be_rewritten(session: AsyncSession, statement: str) -> None:
    await audit.record(session, "user.login")
    await session.flush()
    with pytest.raises(DBAPIError, match="append-only"):
        async with session.begin_nested():
            await session.execute(text(statement))
    assert any(e.action == "user.login" for e in await _chain(session))


async def test_concurrent_writers_still_form_one_chain(fresh_database_url: str) -> None:
    """Many transactions appending at once: seq stays gapless and every link holds."""
    engine = create_async_engine(fresh_database_url, pool_size=10)

    async def writer(n: int) -> None:
        async with AsyncSession(engine) as session:
            for i in range(5):
                await audit.record(session, "test.write", details={"writer": n, "i": i})
            await session.commit()

    try:
        await asyncio.gather(*(writer(n) for n in range(8)))
        async with AsyncSession(engine) as session:
            rows = await _chain(session)
            assert [r.seq for r in rows] == list(range(1, 41))
            previous = bytes(32)
            for row in rows:
                assert row.prev_hash == previous
                digest = hashlib.sha256(row.prev_hash + await _canonical(session, row.seq))
                assert row.row_hash == digest.digest()
                previous = row.row_hash
    finally:
        await engine.dispose()
