"""The queries retention runs: what is old enough to go, and taking it away a batch at a time."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Execution, Job, OutputChunk, ScheduleRun


def _output_kept(cutoff: datetime) -> Any:
    """Executions of jobs finished before `cutoff` whose output is still stored."""
    return (
        select(Execution.id)
        .join(Job, Job.id == Execution.job_id)
        .where(
            Job.finished_at < cutoff,
            Job.output_purged_at.is_(None),
            Execution.output_purged_at.is_(None),
            Execution.output_seq > 0,
        )
    )


async def output_due(session: AsyncSession, cutoff: datetime) -> tuple[int, int]:
    """(executions, bytes) whose output retention would remove."""
    stmt = _output_kept(cutoff).subquery()
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Execution.output_bytes), 0)).where(
                Execution.id.in_(select(stmt.c.id))
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def purge_output_batch(
    session: AsyncSession, cutoff: datetime, limit: int
) -> tuple[int, int]:
    """Remove the output of up to `limit` executions; (executions, bytes) removed."""
    ids = list(
        (
            await session.execute(
                _output_kept(cutoff).limit(limit).with_for_update(of=Execution, skip_locked=True)
            )
        ).scalars()
    )
    if not ids:
        return 0, 0
    size = await session.scalar(
        select(func.coalesce(func.sum(Execution.output_bytes), 0)).where(Execution.id.in_(ids))
    )
    await session.execute(delete(OutputChunk).where(OutputChunk.execution_id.in_(ids)))
    await session.execute(
        update(Execution).where(Execution.id.in_(ids)).values(output_purged_at=func.now())
    )
    return len(ids), int(size or 0)


async def mark_jobs_purged(session: AsyncSession, cutoff: datetime, limit: int) -> int:
    """Mark up to `limit` old jobs with no stored output left, so they are not looked at
    again."""
    pending = (
        select(Job.id)
        .where(
            Job.finished_at < cutoff,
            Job.output_purged_at.is_(None),
            ~exists().where(
                Execution.job_id == Job.id,
                Execution.output_purged_at.is_(None),
                Execution.output_seq > 0,
            ),
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        update(Job)
        .where(Job.id.in_(pending.scalar_subquery()))
        .values(output_purged_at=func.now())
        .returning(Job.id)
    )
    return len(result.all())


async def jobs_due(session: AsyncSession, cutoff: datetime) -> tuple[int, int, datetime | None]:
    """(jobs, executions, oldest finish) that retention would delete."""
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(Job.target_count), 0),
                func.min(Job.finished_at),
            ).where(Job.finished_at < cutoff)
        )
    ).one()
    return int(row[0]), int(row[1]), row[2]


async def oldest_jobs(session: AsyncSession, cutoff: datetime, limit: int) -> list[uuid.UUID]:
    result = await session.execute(
        select(Job.id)
        .where(Job.finished_at < cutoff)
        .order_by(Job.finished_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(result.scalars())


async def delete_executions_batch(session: AsyncSession, job_id: uuid.UUID, limit: int) -> int:
    """Delete up to `limit` executions of a job (their output goes with them)."""
    ids = select(Execution.id).where(Execution.job_id == job_id).limit(limit).scalar_subquery()
    result = await session.execute(
        delete(Execution).where(Execution.id.in_(ids)).returning(Execution.id)
    )
    return len(result.all())


async def delete_job(session: AsyncSession, job_id: uuid.UUID) -> bool:
    result = await session.execute(delete(Job).where(Job.id == job_id).returning(Job.id))
    return result.first() is not None


async def delete_schedule_runs(session: AsyncSession, cutoff: datetime, limit: int) -> int:
    ids = (
        select(ScheduleRun.id).where(ScheduleRun.created_at < cutoff).limit(limit).scalar_subquery()
    )
    result = await session.execute(
        delete(ScheduleRun).where(ScheduleRun.id.in_(ids)).returning(ScheduleRun.id)
    )
    return len(result.all())


async def schedule_runs_due(session: AsyncSession, cutoff: datetime) -> int:
    count = await session.scalar(
        select(func.count()).select_from(ScheduleRun).where(ScheduleRun.created_at < cutoff)
    )
    return int(count or 0)
