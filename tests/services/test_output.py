"""The output writer against the real database: nothing is lost when the execution ends while
a periodic flush is still storing."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, text

from app.core.db import create_sessionmaker
from app.models import Execution, OutputChunk
from app.models.enums import OutputStream
from app.services.output import OutputWriter
from tests.fixtures.engine import Engine


async def test_closing_during_a_slow_flush_loses_nothing(idle_orca: Engine) -> None:
    orca = idle_orca
    await orca.local_system("a")
    job = await orca.submit({"command": "true", "targets": {"systems": ["a"]}})
    (execution,) = await orca.executions(job["id"])
    writer = OutputWriter(
        create_sessionmaker(orca.live.engine),
        orca.live.app.state.redis,
        job_id=job["id"],
        execution_id=execution["id"],
        cap=1024 * 1024,
        flush_seconds=0.05,
    )
    # Another transaction holds the execution row: the writer's flush blocks on it (a slow
    # database, as under load).
    async with orca.live.session() as blocker:
        await blocker.execute(
            select(Execution).where(Execution.id == execution["id"]).with_for_update()
        )
        await writer.write(OutputStream.stdout, b"ok from the host\n")
        await asyncio.sleep(0.3)  # the periodic flush has taken the bytes and is waiting
        closing = asyncio.create_task(writer.close())
        await asyncio.sleep(0.2)
        assert not closing.done()  # close waits for the flush under way
        await blocker.rollback()
    await asyncio.wait_for(closing, 10)
    async with orca.live.session() as session:
        stored = (
            (
                await session.execute(
                    select(OutputChunk.data).where(OutputChunk.execution_id == execution["id"])
                )
            )
            .scalars()
            .all()
        )
        totals = await session.execute(
            text("SELECT output_seq, output_bytes FROM executions WHERE id = :id"),
            {"id": execution["id"]},
        )
    assert b"".join(stored) == b"ok from the host\n"
    assert tuple(totals.one()) == (1, len(b"ok from the host\n"))
