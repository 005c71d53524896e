from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import WorkerHeartbeat


async def beat(
    session: AsyncSession,
    *,
    worker_id: str,
    hostname: str,
    pid: int,
    version: str,
    max_jobs: int,
    running_jobs: int,
    draining: bool = False,
) -> None:
    stmt = insert(WorkerHeartbeat).values(
        worker_id=worker_id,
        hostname=hostname,
        pid=pid,
        version=version,
        max_jobs=max_jobs,
        running_jobs=running_jobs,
        draining=draining,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[WorkerHeartbeat.worker_id],
        set_={"running_jobs": running_jobs, "draining": draining, "last_seen_at": func.now()},
    )
    await session.execute(stmt)


async def remove(session: AsyncSession, worker_id: str) -> None:
    await session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id))


async def live(session: AsyncSession, ttl_seconds: float) -> list[WorkerHeartbeat]:
    cutoff = func.now() - timedelta(seconds=ttl_seconds)
    result = await session.execute(
        select(WorkerHeartbeat)
        .where(WorkerHeartbeat.last_seen_at > cutoff)
        .order_by(WorkerHeartbeat.started_at)
    )
    return list(result.scalars())


async def recent(session: AsyncSession, within: timedelta) -> list[WorkerHeartbeat]:
    result = await session.execute(
        select(WorkerHeartbeat)
        .where(WorkerHeartbeat.last_seen_at > func.now() - within)
        .order_by(WorkerHeartbeat.started_at.desc())
    )
    return list(result.scalars())
