"""Queries on jobs (their executions are in repositories/executions.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Execution, Job
from app.models.enums import ExecutionStatus, JobStatus
from app.models.jobs import job_search_text
from app.repositories.executions import LIVE
from app.repositories.filters import escape_like

NEXT_EVENT_SEQ = text("nextval('job_event_seq')")


def search(
    *,
    visible: ColumnElement[bool],
    status: list[JobStatus] | None = None,
    created_by_id: uuid.UUID | None = None,
    system_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: str | None = None,
    template_id: uuid.UUID | None = None,
    schedule_id: uuid.UUID | None = None,
) -> Select[Any]:
    stmt = select(Job).where(visible)
    if template_id is not None:
        stmt = stmt.where(Job.template_id == template_id)
    if schedule_id is not None:
        stmt = stmt.where(Job.schedule_id == schedule_id)
    if status:
        stmt = stmt.where(Job.status.in_(status))
    if created_by_id is not None:
        stmt = stmt.where(Job.created_by_id == created_by_id)
    if system_id is not None:
        stmt = stmt.where(
            exists().where(Execution.job_id == Job.id, Execution.system_id == system_id)
        )
    if since is not None:
        stmt = stmt.where(Job.created_at >= since)
    if until is not None:
        stmt = stmt.where(Job.created_at < until)
    if q:
        pattern = f"%{escape_like(q)}%"
        stmt = stmt.where(
            job_search_text(Job.name, Job.command, Job.script).ilike(pattern, escape="\\")
        )
    return stmt


async def get_visible(
    session: AsyncSession, job_id: uuid.UUID, visible: ColumnElement[bool]
) -> Job | None:
    result = await session.execute(select(Job).where(Job.id == job_id, visible))
    return result.scalar_one_or_none()


async def lock(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    """The job, its row locked until the transaction ends: whoever changes a job's executions
    and then derives its status holds this, so two last executions finishing at once cannot
    both see the other still running."""
    result = await session.execute(
        select(Job)
        .where(Job.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def by_idempotency_key(session: AsyncSession, user_id: uuid.UUID, key: str) -> Job | None:
    result = await session.execute(
        select(Job).where(Job.created_by_id == user_id, Job.idempotency_key == key)
    )
    return result.scalar_one_or_none()


async def change(session: AsyncSession, job_id: uuid.UUID, **values: Any) -> Job | None:
    """Update the job and give it the next feed number; the updated row (None: no such job)."""
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(**values, updated_at=func.now(), event_seq=NEXT_EVENT_SEQ)
        .returning(Job)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def start_many(session: AsyncSession, job_ids: Sequence[uuid.UUID]) -> list[Job]:
    """pending → running for those of `job_ids` still pending (the first time one of their
    executions starts), in one statement; those started."""
    if not job_ids:
        return []
    result = await session.execute(
        update(Job)
        .where(Job.id.in_(list(job_ids)), Job.status == JobStatus.pending)
        .values(
            status=JobStatus.running,
            started_at=func.now(),
            updated_at=func.now(),
            event_seq=NEXT_EVENT_SEQ,
        )
        .returning(Job)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    return list(result.scalars())


async def state_counts(
    session: AsyncSession, job_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """How many executions of each job are in each state (every state present, zeros too)."""
    counts = {job_id: {state.value: 0 for state in ExecutionStatus} for job_id in job_ids}
    if not job_ids:
        return counts
    result = await session.execute(
        select(Execution.job_id, Execution.status, func.count())
        .where(Execution.job_id.in_(job_ids))
        .group_by(Execution.job_id, Execution.status)
    )
    for job_id, status, count in result.all():
        counts[job_id][status.value] = count
    return counts


async def unfinished_with_all_done(session: AsyncSession, limit: int) -> list[uuid.UUID]:
    """Jobs not marked finished although none of their executions is left to run (a worker
    died between the two writes)."""
    result = await session.execute(
        select(Job.id)
        .where(
            Job.status.in_((JobStatus.pending, JobStatus.running)),
            ~exists().where(Execution.job_id == Job.id, Execution.status.in_(LIVE)),
        )
        .limit(limit)
    )
    return list(result.scalars())


async def dispatchable(session: AsyncSession, limit: int) -> list[Job]:
    """Jobs with an execution waiting to be queued now, in the order they get workers:
    higher priority first, then older first."""
    result = await session.execute(
        select(Job)
        .where(
            Job.status.in_((JobStatus.pending, JobStatus.running)),
            Job.cancel_requested_at.is_(None),
            Job.threshold_reached_at.is_(None),
            exists().where(
                Execution.job_id == Job.id,
                Execution.status == ExecutionStatus.pending,
                (Execution.not_before.is_(None)) | (Execution.not_before <= func.now()),
            ),
        )
        .order_by(Job.priority.desc(), Job.created_at, Job.id)
        .limit(limit)
    )
    return list(result.scalars())


async def feed_after(
    session: AsyncSession, visible: ColumnElement[bool], after_seq: int, limit: int
) -> list[Job]:
    """Jobs changed since feed number `after_seq`, oldest change first."""
    result = await session.execute(
        select(Job).where(visible, Job.event_seq > after_seq).order_by(Job.event_seq).limit(limit)
    )
    return list(result.scalars())


async def latest_seq(session: AsyncSession) -> int:
    result = await session.execute(select(func.coalesce(func.max(Job.event_seq), 0)))
    return int(result.scalar_one())
