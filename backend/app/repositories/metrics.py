"""The counts a Prometheus scrape reads from PostgreSQL. Each is an index scan over live rows
only, so its cost follows the work in flight, not the history stored (a million finished
executions cost nothing here)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from sqlalchemy import BindParameter, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Execution, Job, System, WorkerHeartbeat
from app.models.enums import ExecutionStatus, JobStatus
from app.repositories.executions import LIVE

LIVE_JOBS = (JobStatus.pending, JobStatus.running)


def live_executions_statement() -> Any:
    # The states are written into the SQL, not sent as parameters: the partial index
    # ix_executions_live (WHERE status IN ('pending', 'queued', 'running')) is usable only by a
    # plan that knows the values, and a prepared statement's generic plan would not.
    states: BindParameter[list[str]] = bindparam(
        "live_states", [state.value for state in LIVE], expanding=True, literal_execute=True
    )
    return (
        select(Execution.status, func.count())
        .where(Execution.status.in_(states))
        .group_by(Execution.status)
    )


async def live_executions(session: AsyncSession) -> dict[ExecutionStatus, int]:
    """Executions in each live state (pending, queued, running), zero included."""
    counts = dict.fromkeys(LIVE, 0)
    for status, count in await session.execute(live_executions_statement()):
        counts[ExecutionStatus(status)] = count
    return counts


async def live_jobs(session: AsyncSession) -> dict[JobStatus, int]:
    """Jobs not yet finished, by status (ix_jobs_status_created_at leads with the status)."""
    counts = dict.fromkeys(LIVE_JOBS, 0)
    rows = await session.execute(
        select(Job.status, func.count()).where(Job.status.in_(LIVE_JOBS)).group_by(Job.status)
    )
    for status, count in rows:
        counts[JobStatus(status)] = count
    return counts


async def live_workers(session: AsyncSession, ttl_seconds: float) -> int:
    cutoff = func.now() - timedelta(seconds=ttl_seconds)
    result = await session.execute(
        select(func.count())
        .select_from(WorkerHeartbeat)
        .where(WorkerHeartbeat.last_seen_at > cutoff)
    )
    return int(result.scalar_one())


async def system_names(session: AsyncSession, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.execute(select(System.id, System.name).where(System.id.in_(list(ids))))
    return {system_id: name for system_id, name in rows}
