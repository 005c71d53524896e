"""Queries on schedules and their runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Job, JobTemplate, Schedule, ScheduleRun
from app.models.enums import JobStatus, ScheduleRunStatus
from app.repositories.filters import contains


def search(
    *,
    visible: ColumnElement[bool],
    q: str | None = None,
    template_id: uuid.UUID | None = None,
    enabled: bool | None = None,
) -> Select[Any]:
    stmt = select(Schedule).where(visible)
    if q:
        stmt = stmt.where(contains(q, Schedule.name, Schedule.description))
    if template_id is not None:
        stmt = stmt.where(Schedule.template_id == template_id)
    if enabled is not None:
        stmt = stmt.where(Schedule.enabled.is_(enabled))
    return stmt


async def get_visible(
    session: AsyncSession,
    schedule_id: uuid.UUID,
    visible: ColumnElement[bool],
    *,
    for_update: bool = False,
) -> Schedule | None:
    stmt = select(Schedule).where(Schedule.id == schedule_id, visible)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def template_id_by_name(
    session: AsyncSession, name: str, visible: ColumnElement[bool]
) -> uuid.UUID | None:
    result = await session.execute(
        select(JobTemplate.id).where(func.lower(JobTemplate.name) == name.lower(), visible)
    )
    return result.scalar_one_or_none()


def runs(schedule_id: uuid.UUID, *, status: list[ScheduleRunStatus] | None = None) -> Select[Any]:
    stmt = select(ScheduleRun).where(ScheduleRun.schedule_id == schedule_id)
    if status:
        stmt = stmt.where(ScheduleRun.status.in_(status))
    return stmt


async def lock_due(session: AsyncSession, now: datetime, limit: int) -> list[Schedule]:
    """Enabled schedules due by `now`, soonest first, locked; those another tick holds are
    skipped, not waited for."""
    result = await session.execute(
        select(Schedule)
        .where(Schedule.enabled, Schedule.next_run_at <= now)
        .order_by(Schedule.next_run_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(result.scalars())


async def last_job_running(
    session: AsyncSession,
    schedule_id: uuid.UUID,
    final: Iterable[JobStatus],
    *,
    before: datetime,
) -> uuid.UUID | None:
    """The job this schedule launched last before `before`, if it has not finished."""
    result = await session.execute(
        select(Job.id, Job.status)
        .join(ScheduleRun, ScheduleRun.job_id == Job.id)
        .where(
            ScheduleRun.schedule_id == schedule_id,
            ScheduleRun.due_at < before,
            ScheduleRun.status == ScheduleRunStatus.launched,
        )
        .order_by(ScheduleRun.due_at.desc())
        .limit(1)
    )
    row = result.first()
    if row is None or row[1] in set(final):
        return None
    job_id: uuid.UUID = row[0]
    return job_id


async def last_runs(
    session: AsyncSession, schedule_ids: list[uuid.UUID]
) -> dict[uuid.UUID, ScheduleRun]:
    if not schedule_ids:
        return {}
    latest = (
        select(ScheduleRun.schedule_id, func.max(ScheduleRun.due_at).label("due_at"))
        .where(ScheduleRun.schedule_id.in_(schedule_ids))
        .group_by(ScheduleRun.schedule_id)
        .subquery()
    )
    result = await session.execute(
        select(ScheduleRun).join(
            latest,
            (latest.c.schedule_id == ScheduleRun.schedule_id)
            & (latest.c.due_at == ScheduleRun.due_at),
        )
    )
    return {run.schedule_id: run for run in result.scalars()}


async def finish_run(
    session: AsyncSession,
    run_id: uuid.UUID,
    status: ScheduleRunStatus,
    *,
    job_id: uuid.UUID | None = None,
    message: str | None = None,
) -> None:
    values: dict[str, Any] = {"status": status, "job_id": job_id}
    if message is not None:
        values["message"] = message
    await session.execute(update(ScheduleRun).where(ScheduleRun.id == run_id).values(**values))
