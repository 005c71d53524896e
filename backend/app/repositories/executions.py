"""Queries on executions. Every change of state is a compare-and-set: the UPDATE names the
states it may start from, and a row that has moved on meanwhile is simply not returned."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Execution, System
from app.models.enums import ExecutionStatus
from app.repositories.filters import contains

BUSY = (ExecutionStatus.queued, ExecutionStatus.running)
WAITING = (ExecutionStatus.pending, ExecutionStatus.queued)
LIVE = (ExecutionStatus.pending, ExecutionStatus.queued, ExecutionStatus.running)
FAILURES = (ExecutionStatus.failed, ExecutionStatus.timed_out, ExecutionStatus.error)
NEXT_VERSION = Execution.version + 1


def _returning(stmt: Any) -> Any:
    return stmt.returning(Execution).execution_options(
        populate_existing=True, synchronize_session=False
    )


async def add_many(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(Execution), rows)


def search(
    job_id: uuid.UUID,
    visible: ColumnElement[bool],
    *,
    status: list[ExecutionStatus] | None = None,
    q: str | None = None,
) -> Select[Any]:
    stmt = select(Execution).where(Execution.job_id == job_id, visible)
    if status:
        stmt = stmt.where(Execution.status.in_(status))
    if q:
        stmt = stmt.where(contains(q, Execution.system_name))
    return stmt


async def get_visible(
    session: AsyncSession, execution_id: uuid.UUID, visible: ColumnElement[bool]
) -> Execution | None:
    result = await session.execute(select(Execution).where(Execution.id == execution_id, visible))
    return result.scalar_one_or_none()


async def get(session: AsyncSession, execution_id: uuid.UUID) -> Execution | None:
    result = await session.execute(
        select(Execution)
        .where(Execution.id == execution_id)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def of_job(session: AsyncSession, job_id: uuid.UUID) -> list[Execution]:
    result = await session.execute(
        select(Execution).where(Execution.job_id == job_id).order_by(Execution.position)
    )
    return list(result.scalars())


async def system_ids_of_job(session: AsyncSession, job_id: uuid.UUID) -> list[uuid.UUID]:
    result = await session.execute(
        select(Execution.system_id)
        .where(Execution.job_id == job_id, Execution.system_id.is_not(None))
        .order_by(Execution.position)
    )
    return [system_id for system_id in result.scalars() if system_id is not None]


async def queue_pending(
    session: AsyncSession, job_id: uuid.UUID, limit: int, default_system_limit: int
) -> list[Execution]:
    """pending → queued for up to `limit` of the job's executions that are due, in target
    order, skipping systems already running as many executions (of any job) as they may."""
    busy = Execution.__table__.alias("busy")
    busy_on_system = (
        select(func.count())
        .select_from(busy)
        .where(busy.c.system_id == Execution.system_id, busy.c.status.in_(BUSY))
        .scalar_subquery()
    )
    system_limit = (
        select(func.coalesce(System.max_concurrency, default_system_limit))
        .where(System.id == Execution.system_id)
        .scalar_subquery()
    )
    # A materialized CTE: as `IN (subquery)` PostgreSQL may run the LIMIT more than once and
    # take more rows than asked for.
    due = (
        select(Execution.id)
        .where(
            Execution.job_id == job_id,
            Execution.status == ExecutionStatus.pending,
            (Execution.not_before.is_(None)) | (Execution.not_before <= func.now()),
            (Execution.system_id.is_(None)) | (busy_on_system < system_limit),
        )
        .order_by(Execution.position)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
        .prefix_with("MATERIALIZED")
    )
    result = await session.execute(
        _returning(
            update(Execution)
            .where(Execution.id == due.c.id, Execution.status == ExecutionStatus.pending)
            .values(
                status=ExecutionStatus.queued,
                queued_at=func.now(),
                not_before=None,
                wait_reason=None,
                version=NEXT_VERSION,
            )
        )
    )
    return sorted(result.scalars(), key=lambda execution: execution.position)


async def claim_many(
    session: AsyncSession,
    claims: Sequence[tuple[uuid.UUID, int]],
    worker_id: str,
    lease_seconds: float,
) -> list[Execution]:
    """queued → running for this worker, for each (execution id, attempt) still queued for that
    attempt, in one statement; those claimed. The one place an execution is taken, so a second
    delivery of the same task finds nothing to claim."""
    if not claims:
        return []
    result = await session.execute(
        _returning(
            update(Execution)
            .where(
                tuple_(Execution.id, Execution.attempt).in_(list(claims)),
                Execution.status == ExecutionStatus.queued,
            )
            .values(
                status=ExecutionStatus.running,
                worker_id=worker_id,
                lease_expires_at=func.now() + timedelta(seconds=lease_seconds),
                started_at=func.now(),
                finished_at=None,
                exit_code=None,
                signal=None,
                error_code=None,
                error_reason=None,
                error_message=None,
                version=NEXT_VERSION,
            )
        )
    )
    return list(result.scalars())


async def finish(
    session: AsyncSession,
    execution_id: uuid.UUID,
    worker_id: str | None,
    status: ExecutionStatus,
    **values: Any,
) -> Execution | None:
    """running → a final state, if this worker still holds it (None: someone else decided).
    With `worker_id` None: only if its lease has lapsed (the reconciler, for a lost worker)."""
    conditions: list[ColumnElement[bool]] = [
        Execution.id == execution_id,
        Execution.status == ExecutionStatus.running,
    ]
    if worker_id is not None:
        conditions.append(Execution.worker_id == worker_id)
    else:
        conditions.append(Execution.lease_expires_at < func.now())
    result = await session.execute(
        _returning(
            update(Execution)
            .where(*conditions)
            .values(
                status=status,
                finished_at=func.now(),
                lease_expires_at=None,
                wait_reason=None,
                version=NEXT_VERSION,
                **values,
            )
        )
    )
    return result.scalar_one_or_none()


async def retry_later(
    session: AsyncSession,
    execution_id: uuid.UUID,
    worker_id: str,
    delay_seconds: float,
    reason: str,
    **values: Any,
) -> Execution | None:
    """running → pending for another attempt after `delay_seconds` (its command never
    started)."""
    result = await session.execute(
        _returning(
            update(Execution)
            .where(
                Execution.id == execution_id,
                Execution.status == ExecutionStatus.running,
                Execution.worker_id == worker_id,
            )
            .values(
                status=ExecutionStatus.pending,
                attempt=Execution.attempt + 1,
                not_before=func.now() + timedelta(seconds=delay_seconds),
                worker_id=None,
                lease_expires_at=None,
                queued_at=None,
                started_at=None,
                wait_reason=reason[:200],
                version=NEXT_VERSION,
                **values,
            )
        )
    )
    return result.scalar_one_or_none()


def _scope(
    job_id: uuid.UUID | None, execution_ids: list[uuid.UUID] | None
) -> list[ColumnElement[bool]]:
    """The executions of a job, or those listed (both: the listed ones of that job)."""
    conditions: list[ColumnElement[bool]] = []
    if job_id is not None:
        conditions.append(Execution.job_id == job_id)
    if execution_ids is not None:
        conditions.append(Execution.id.in_(execution_ids))
    return conditions


async def cancel_waiting(
    session: AsyncSession,
    *,
    job_id: uuid.UUID | None = None,
    execution_ids: list[uuid.UUID] | None = None,
    code: str,
    message: str,
) -> list[Execution]:
    """pending|queued → cancelled: they never started, so this is the whole of it."""
    result = await session.execute(
        _returning(
            update(Execution)
            .where(Execution.status.in_(WAITING), *_scope(job_id, execution_ids))
            .values(
                status=ExecutionStatus.cancelled,
                finished_at=func.now(),
                not_before=None,
                wait_reason=None,
                error_code=code,
                error_message=message,
                version=NEXT_VERSION,
            )
        )
    )
    return sorted(result.scalars(), key=lambda execution: execution.position)


async def request_cancel(
    session: AsyncSession,
    *,
    job_id: uuid.UUID | None = None,
    execution_ids: list[uuid.UUID] | None = None,
) -> list[Execution]:
    """Mark running executions for cancelling (their worker stops them and records the end)."""
    result = await session.execute(
        _returning(
            update(Execution)
            .where(
                Execution.status == ExecutionStatus.running,
                Execution.cancel_requested_at.is_(None),
                *_scope(job_id, execution_ids),
            )
            .values(cancel_requested_at=func.now(), version=NEXT_VERSION)
        )
    )
    return list(result.scalars())


async def renew_leases(
    session: AsyncSession, worker_id: str, execution_ids: list[uuid.UUID], lease_seconds: float
) -> list[tuple[uuid.UUID, bool]]:
    """Extend this worker's leases on what it runs; each with whether a cancel was asked."""
    if not execution_ids:
        return []
    result = await session.execute(
        update(Execution)
        .where(
            Execution.id.in_(execution_ids),
            Execution.worker_id == worker_id,
            Execution.status == ExecutionStatus.running,
        )
        .values(lease_expires_at=func.now() + timedelta(seconds=lease_seconds))
        .returning(Execution.id, Execution.cancel_requested_at.is_not(None))
        .execution_options(synchronize_session=False)
    )
    return [(row[0], bool(row[1])) for row in result.all()]


async def lease_expired(session: AsyncSession, limit: int) -> list[Execution]:
    result = await session.execute(
        select(Execution)
        .where(
            Execution.status == ExecutionStatus.running,
            Execution.lease_expires_at < func.now(),
        )
        .limit(limit)
    )
    return list(result.scalars())


async def queued_before(session: AsyncSession, before: datetime, limit: int) -> list[Execution]:
    result = await session.execute(
        select(Execution)
        .where(Execution.status == ExecutionStatus.queued, Execution.queued_at < before)
        .order_by(Execution.queued_at)
        .limit(limit)
    )
    return list(result.scalars())


async def requeue(session: AsyncSession, execution_id: uuid.UUID) -> Execution | None:
    """Restart the wait of a queued execution that no worker took (its task was lost)."""
    result = await session.execute(
        _returning(
            update(Execution)
            .where(Execution.id == execution_id, Execution.status == ExecutionStatus.queued)
            .values(queued_at=func.now(), version=NEXT_VERSION)
        )
    )
    return result.scalar_one_or_none()


async def busy_by_job(session: AsyncSession, job_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not job_ids:
        return {}
    result = await session.execute(
        select(Execution.job_id, func.count())
        .where(Execution.job_id.in_(job_ids), Execution.status.in_(BUSY))
        .group_by(Execution.job_id)
    )
    return {job_id: count for job_id, count in result.all()}


async def busy_by_system(
    session: AsyncSession, system_ids: list[uuid.UUID]
) -> dict[uuid.UUID, int]:
    if not system_ids:
        return {}
    result = await session.execute(
        select(Execution.system_id, func.count())
        .where(Execution.system_id.in_(system_ids), Execution.status.in_(BUSY))
        .group_by(Execution.system_id)
    )
    return {system_id: count for system_id, count in result.all() if system_id is not None}


async def busy_total(session: AsyncSession) -> int:
    result = await session.execute(
        select(func.count()).select_from(Execution).where(Execution.status.in_(BUSY))
    )
    return int(result.scalar_one())


async def failures(session: AsyncSession, job_id: uuid.UUID) -> int:
    result = await session.execute(
        select(func.count())
        .select_from(Execution)
        .where(Execution.job_id == job_id, Execution.status.in_(FAILURES))
    )
    return int(result.scalar_one())


async def live_count(session: AsyncSession, job_id: uuid.UUID) -> int:
    result = await session.execute(
        select(func.count())
        .select_from(Execution)
        .where(Execution.job_id == job_id, Execution.status.in_(LIVE))
    )
    return int(result.scalar_one())
