"""The scrape's count of live executions can use the partial index over live rows, however the
statement is prepared: the states are in the SQL sent, not parameters a generic plan cannot
see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.repositories import metrics as metrics_repo


async def test_live_executions_are_counted_from_the_partial_index(session: AsyncSession) -> None:
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        sent.append((statement, parameters))

    engine = session.bind.engine.sync_engine  # type: ignore[union-attr]
    event.listen(engine, "before_cursor_execute", record)
    try:
        counts = await metrics_repo.live_executions(session)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert counts == {"pending": 0, "queued": 0, "running": 0}
    ((statement, parameters),) = [each for each in sent if "FROM executions" in each[0]]
    assert "IN ('pending', 'queued', 'running')" in statement
    assert not parameters

    await session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(row[0] for row in await session.execute(text(f"EXPLAIN {statement}")))
    assert "ix_executions_live" in plan, plan
