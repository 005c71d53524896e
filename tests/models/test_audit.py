"""The database keeps the audit log append-only and hash-chained; Python verifies the chain."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.core.context import client_context, client_var
from app.models import AuditEvent, SystemGroup
from app.repositories import audit as audit_repo
from app.services import audit


async def _three_events(session: AsyncSession) -> list[AuditEvent]:
    """Rows with and without a client address and user agent (the user agent joined the
    canonical form later, only when present)."""
    token = client_var.set(client_context("127.0.0.1", 'curl/8.0 "quoted" \u00e9'))
    try:
        first = await audit.record(
            session,
            "user.login",
            actor_username="alice",
            details={"method": "password", "b": 1, "aa": [1, None, True]},
        )
        client_var.set(client_context("2001:db8::1", None))
        second = await audit.record(
            session,
            "job.create",
            target_type="job",
            target_id="j1",
            details={"script": 'echo "héllo"\n\tbye\\ \u0001', "nested": {"z": 1, "a": 2}},
        )
    finally:
        client_var.reset(token)
    third = await audit.record(session, "user.logout", actor_username="Zoë 🐋")
    await audit_repo.write_pending(session)  # rows are queued until the commit otherwise
    return [first, second, third]


async def test_rows_are_numbered_chained_and_verify(session: AsyncSession) -> None:
    events = await _three_events(session)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == audit.GENESIS_HASH
    assert events[1].prev_hash == events[0].row_hash
    assert events[0].user_agent == 'curl/8.0 "quoted" é'
    assert str(events[1].client_ip) == "2001:db8::1" and events[1].user_agent is None
    result = await audit.verify_chain(session)
    assert result.ok, result
    assert result.rows_checked == 3
    assert result.head_seq == 3 and result.head_hash == events[2].row_hash.hex()


async def test_python_and_database_canonical_forms_agree(session: AsyncSession) -> None:
    """Two independent implementations of one format: any drift shows up here."""
    await _three_events(session)
    for row in await audit_repo.chain_batch(session, 0, 10):
        in_db = await session.scalar(
            text("SELECT orca_audit_canonical(a) FROM audit_log a WHERE seq = :s"), {"s": row.seq}
        )
        assert audit.canonical(row) == str(in_db).encode()


async def test_the_caller_cannot_choose_the_time_or_id(session: AsyncSession) -> None:
    await session.execute(
        text(
            "INSERT INTO audit_log (id, occurred_at, action, outcome, prev_hash, row_hash) "
            "VALUES ('00000000-0000-0000-0000-000000000001', '2001-01-01', 'forged', "
            "'success', '\\x00', '\\x00')"
        )
    )
    row = (
        await session.execute(select(AuditEvent).where(AuditEvent.action == "forged"))
    ).scalar_one()
    assert str(row.id) != "00000000-0000-0000-0000-000000000001"
    assert abs(row.occurred_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert row.prev_hash == audit.GENESIS_HASH and len(row.row_hash) == 32
    assert (await audit.verify_chain(session)).ok


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log", "TRUNCATE audit_log"],
)
async def test_history_cannot_be_rewritten(session: AsyncSession, statement: str) -> None:
    await audit.record(session, "user.login")
    await audit_repo.write_pending(session)
    with pytest.raises(DBAPIError, match="append-only"):
        async with session.begin_nested():
            await session.execute(text(statement))
    assert (await audit.verify_chain(session)).rows_checked == 1


async def test_an_edit_that_bypasses_the_triggers_is_detected(session: AsyncSession) -> None:
    await _three_events(session)
    # A superuser can switch triggers off; the chain still tells.
    await session.execute(text("SET LOCAL session_replication_role = replica"))
    await session.execute(
        text('UPDATE audit_log SET details = \'{"method": "sso"}\' WHERE seq = 2')
    )
    result = await audit.verify_chain(session)
    assert not result.ok
    assert result.broken_at_seq == 2 and result.rows_checked == 1
    assert result.problem == "row_hash does not match the row's contents"


async def test_a_removed_row_is_detected(session: AsyncSession) -> None:
    await _three_events(session)
    await session.execute(text("SET LOCAL session_replication_role = replica"))
    await session.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    result = await audit.verify_chain(session)
    assert not result.ok and result.broken_at_seq == 3
    assert result.problem == "rows 2..2 are missing"


async def test_inserts_outside_read_committed_are_refused(fresh_database_url: str) -> None:
    engine = create_async_engine(fresh_database_url, isolation_level="REPEATABLE READ")
    try:
        async with AsyncSession(engine) as session:
            await audit.record(session, "user.login")
            with pytest.raises(DBAPIError, match="need READ COMMITTED isolation"):
                await session.commit()
    finally:
        await engine.dispose()


async def test_concurrent_writers_still_form_one_chain(fresh_database_url: str) -> None:
    engine = create_async_engine(fresh_database_url, pool_size=10)

    async def writer(n: int) -> None:
        async with AsyncSession(engine) as session:
            for i in range(5):
                await audit.record(session, "test.write", details={"writer": n, "i": i})
            await session.commit()

    try:
        await asyncio.gather(*(writer(n) for n in range(8)))
        async with AsyncSession(engine) as session:
            result = await audit.verify_chain(session, batch_size=7)  # several batches
            assert result.ok and result.rows_checked == 40 and result.head_seq == 40
            times = list(
                (
                    await session.execute(select(AuditEvent.occurred_at).order_by(AuditEvent.seq))
                ).scalars()
            )
            assert times == sorted(times)  # time follows chain order
    finally:
        await engine.dispose()


async def _rewrite_history(session: AsyncSession, seq: int, last: int) -> None:
    """What a superuser who understands the chain could do: edit a row, then recompute every
    hash from there on so that the chain verifies again."""
    await session.execute(text("SET LOCAL session_replication_role = replica"))
    await session.execute(
        text("UPDATE audit_log SET actor_username = 'someone-else' WHERE seq = :s"), {"s": seq}
    )
    for each in range(seq, last + 1):
        await session.execute(
            text(
                "UPDATE audit_log a SET prev_hash = p.row_hash FROM audit_log p "
                "WHERE a.seq = :s AND p.seq = :s - 1"
            ),
            {"s": each},
        )
        await session.execute(
            text(
                "UPDATE audit_log SET row_hash = sha256(prev_hash || "
                "convert_to(orca_audit_canonical(audit_log), 'UTF8')) WHERE seq = :s"
            ),
            {"s": each},
        )


async def test_an_anchor_catches_a_rewrite_that_recomputed_the_chain(
    session: AsyncSession,
) -> None:
    await _three_events(session)
    head = await audit.verify_chain(session)
    anchor = audit.Anchor.parse(f"{head.head_seq}:{head.head_hash}")
    await _rewrite_history(session, 2, 3)
    assert (await audit.verify_chain(session)).ok  # the chain alone is fooled
    result = await audit.verify_chain(session, anchors=(anchor,))
    assert not result.ok and result.broken_at_seq == 3
    assert "anchor" in str(result.problem)


async def test_an_anchor_catches_rows_cut_from_the_end(session: AsyncSession) -> None:
    await _three_events(session)
    head = await audit.verify_chain(session)
    await session.execute(text("SET LOCAL session_replication_role = replica"))
    await session.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    assert (await audit.verify_chain(session)).ok  # a shorter chain is still a chain
    anchor = audit.Anchor(head.head_seq, bytes.fromhex(head.head_hash))
    result = await audit.verify_chain(session, anchors=(anchor,))
    assert not result.ok and result.broken_at_seq == 3
    assert "removed from the end" in str(result.problem)


@pytest.mark.parametrize("text_", ["", "3", "x:00", "0:" + "00" * 32, "3:abcd", "3:" + "zz" * 32])
def test_malformed_anchors_are_refused(text_: str) -> None:
    with pytest.raises(ValueError, match="SEQ:HASH"):
        audit.Anchor.parse(text_)


async def test_audit_rows_go_in_last_so_lock_order_cannot_deadlock(fresh_database_url: str) -> None:
    """One transaction records an audit row and then updates a row; another updates that row
    and then records an audit row. Written when recorded, the first held the audit lock while
    waiting for the row, and the second held the row while waiting for the audit lock: a
    deadlock, found by the fan-out benchmark between a worker claiming one execution and one
    finishing another. Written at commit, both go through."""
    engine = create_async_engine(fresh_database_url, pool_size=4)
    try:
        async with AsyncSession(engine) as setup:
            group = SystemGroup(name="contended")
            setup.add(group)
            await setup.flush()
            group_id = group.id
            await setup.commit()
        recorded, updated = asyncio.Event(), asyncio.Event()
        rename = update(SystemGroup).where(SystemGroup.id == group_id)

        async def audit_then_row() -> None:
            async with AsyncSession(engine) as session:
                await audit.record(session, "test.first")
                recorded.set()
                await updated.wait()
                await session.execute(rename.values(description="first"))  # waits for the other
                await session.commit()

        async def row_then_audit() -> None:
            async with AsyncSession(engine) as session:
                await recorded.wait()
                await session.execute(rename.values(description="second"))
                updated.set()
                await asyncio.sleep(0.3)  # the other is now waiting for this row
                await audit.record(session, "test.second")
                await session.commit()

        await asyncio.wait_for(asyncio.gather(audit_then_row(), row_then_audit()), timeout=30)
        async with AsyncSession(engine) as session:
            result = await audit.verify_chain(session)
            assert result.ok and result.rows_checked == 2
            actions = await session.execute(select(AuditEvent.action).order_by(AuditEvent.seq))
            assert list(actions.scalars()) == ["test.second", "test.first"]
    finally:
        await engine.dispose()
