"""Queries on execution output: ordered chunks, numbered by `seq` from 1 per execution."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Execution, OutputChunk
from app.models.enums import OutputStream


async def append(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Store chunks. A chunk already there (a retried write whose first commit did land) is
    left as it is: its seq says it is the same chunk."""
    if rows:
        await session.execute(
            insert(OutputChunk)
            .values(rows)
            .on_conflict_do_nothing(index_elements=[OutputChunk.execution_id, OutputChunk.seq])
        )


async def drop(session: AsyncSession, execution_id: uuid.UUID, seqs: list[int]) -> None:
    if seqs:
        await session.execute(
            delete(OutputChunk).where(
                OutputChunk.execution_id == execution_id, OutputChunk.seq.in_(seqs)
            )
        )


async def record_totals(
    session: AsyncSession, execution_id: uuid.UUID, *, seq: int, kept: int, dropped: int
) -> None:
    await session.execute(
        update(Execution)
        .where(Execution.id == execution_id)
        .values(
            output_seq=seq,
            output_bytes=kept,
            output_dropped_bytes=dropped,
            output_truncated=dropped > 0,
        )
        .execution_options(synchronize_session=False)
    )


async def chunks(
    session: AsyncSession,
    execution_id: uuid.UUID,
    *,
    after_seq: int = 0,
    until_seq: int | None = None,
    stream: OutputStream | None = None,
    limit: int = 1000,
) -> list[OutputChunk]:
    """Chunks after `after_seq` (up to `until_seq`), in order, at most `limit`."""
    stmt = select(OutputChunk).where(
        OutputChunk.execution_id == execution_id, OutputChunk.seq > after_seq
    )
    if until_seq is not None:
        stmt = stmt.where(OutputChunk.seq <= until_seq)
    if stream is not None:
        stmt = stmt.where(OutputChunk.stream == stream)
    result = await session.execute(stmt.order_by(OutputChunk.seq).limit(limit))
    return list(result.scalars())
