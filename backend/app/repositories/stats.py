from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Execution, Job, System
from app.models.enums import JobStatus


async def executions_by_bucket(
    session: AsyncSession,
    since: datetime,
    bucket_seconds: int,
    visible: ColumnElement[bool],
) -> list[tuple[int, str, int]]:
    """(bucket index from `since`, status, count) of executions created since `since`."""
    index = func.floor(
        (func.extract("epoch", Execution.created_at) - since.timestamp()) / bucket_seconds
    ).label("bucket")
    result = await session.execute(
        select(index, Execution.status, func.count())
        .where(Execution.created_at >= since, visible)
        .group_by(index, Execution.status)
    )
    return [(int(bucket), str(status), int(count)) for bucket, status, count in result.all()]


async def jobs_by_status(
    session: AsyncSession, since: datetime, visible: ColumnElement[bool]
) -> dict[str, int]:
    result = await session.execute(
        select(Job.status, func.count())
        .where(Job.created_at >= since, visible)
        .group_by(Job.status)
    )
    return {str(status): int(count) for status, count in result.all()}


async def active_jobs(session: AsyncSession, visible: ColumnElement[bool]) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.status.in_([JobStatus.pending, JobStatus.running]), visible)
    )
    return int(count or 0)


async def systems_by_health(session: AsyncSession, visible: ColumnElement[bool]) -> dict[str, int]:
    result = await session.execute(
        select(System.health_status, func.count()).where(visible).group_by(System.health_status)
    )
    return {str(status): int(count) for status, count in result.all()}


async def database_now(session: AsyncSession) -> datetime:
    return (await session.execute(select(func.now()))).scalar_one()
