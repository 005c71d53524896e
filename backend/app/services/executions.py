"""The execution state machine, and what follows from an execution reaching its end.

    pending ──► queued ──► running ──► succeeded | failed | timed_out | error | cancelled
       │           │          │
       └───────────┴──────────┴──► cancelled     (pending|queued: at once; running: the
                                                  worker stops the command, then records it)
    running ──► pending                           (a retry: only when the command never
                                                  started and the job allows more attempts)

Every arrow is a compare-and-set (repositories/executions.py). When one ends, `settle()`
applies the job's failure threshold and, once nothing of the job is left to run, derives the
job's status (see `derive_status`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.models import Execution, Job, System
from app.models.enums import AuditOutcome, ExecutionStatus, JobStatus
from app.repositories import common as common_repo
from app.repositories import executions as executions_repo
from app.repositories import jobs as jobs_repo
from app.services import audit
from app.services.dispatch import worker_capacity

SYSTEM_ACTOR = "system"
FINAL_JOB_STATES = frozenset({JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled})


def threshold_reached(job: Job, failures: int) -> bool:
    if job.failure_threshold_count is not None and failures >= job.failure_threshold_count:
        return True
    return (
        job.failure_threshold_percent is not None
        and job.target_count > 0
        and failures * 100 >= job.failure_threshold_percent * job.target_count
    )


def threshold_text(job: Job) -> str:
    limits = []
    if job.failure_threshold_count is not None:
        limits.append(f"{job.failure_threshold_count} failure(s)")
    if job.failure_threshold_percent is not None:
        limits.append(f"{job.failure_threshold_percent}% of {job.target_count} systems")
    return " or ".join(limits)


def derive_status(job: Job, counts: dict[str, int]) -> JobStatus:
    """Cancelled when the user cancelled the job; otherwise failed if any execution failed,
    timed out or errored; cancelled if some were cancelled (and none failed); else succeeded."""
    if job.cancel_requested_at is not None:
        return JobStatus.cancelled
    if any(counts.get(state.value, 0) for state in executions_repo.FAILURES):
        return JobStatus.failed
    if counts.get(ExecutionStatus.cancelled.value, 0):
        return JobStatus.cancelled
    return JobStatus.succeeded


@dataclass
class Settled:
    """What settling changed: executions skipped by the threshold, the job if it changed."""

    executions: list[Execution] = field(default_factory=list)
    job: Job | None = None


async def settle(session: AsyncSession, job_id: uuid.UUID) -> Settled:
    """After executions of the job ended: stop starting more if the failure threshold is now
    reached, and finish the job once none is left to run. Holds the job's row lock."""
    job = await jobs_repo.lock(session, job_id)
    settled = Settled()
    if job is None or job.status in FINAL_JOB_STATES:
        return settled
    if job.threshold_reached_at is None and (
        job.failure_threshold_count is not None or job.failure_threshold_percent is not None
    ):
        failures = await executions_repo.failures(session, job_id)
        if threshold_reached(job, failures):
            changed = await jobs_repo.change(session, job_id, threshold_reached_at=func.now())
            assert changed is not None
            job = settled.job = changed
            settled.executions = await executions_repo.cancel_waiting(
                session,
                job_id=job_id,
                code="failure_threshold",
                message=f"not started: the job's failure threshold ({threshold_text(job)}) was "
                f"reached with {failures} failure(s)",
            )
            await audit.record(
                session,
                "job.threshold_reached",
                actor_username=SYSTEM_ACTOR,
                outcome=AuditOutcome.failure,
                target_type="job",
                target_id=job_id,
                details={
                    "name": job.name,
                    "failures": failures,
                    "limit": threshold_text(job),
                    "skipped": len(settled.executions),
                },
            )
    if await executions_repo.live_count(session, job_id) == 0:
        counts = (await jobs_repo.state_counts(session, [job_id]))[job_id]
        status = derive_status(job, counts)
        changed = await jobs_repo.change(
            session,
            job_id,
            status=status,
            finished_at=func.now(),
            started_at=func.coalesce(Job.started_at, func.now()),
        )
        assert changed is not None
        settled.job = changed
        await audit.record(
            session,
            "job.finish",
            actor_username=SYSTEM_ACTOR,
            outcome=AuditOutcome.success if status == JobStatus.succeeded else AuditOutcome.failure,
            target_type="job",
            target_id=job_id,
            details={
                "name": job.name,
                "status": status.value,
                "counts": {state: count for state, count in counts.items() if count},
            },
        )
    return settled


# Why an execution is not running (yet): a code for programs, a sentence for people.
@dataclass(frozen=True)
class Waiting:
    code: str
    message: str


async def waiting_reasons(
    session: AsyncSession,
    settings: Settings,
    executions: list[Execution],
    jobs: dict[uuid.UUID, Job],
) -> dict[uuid.UUID, Waiting]:
    """For each pending or queued execution (and a running one being cancelled), why it waits,
    decided as the dispatcher decides: retry backoff, then the job's concurrency, then the
    system's limit, then free worker slots."""
    now = datetime.now(UTC)
    waiting = [
        each
        for each in executions
        if each.status in (ExecutionStatus.pending, ExecutionStatus.queued)
        or (each.status == ExecutionStatus.running and each.cancel_requested_at is not None)
    ]
    if not waiting:
        return {}
    job_ids = list({each.job_id for each in waiting})
    system_ids = list({each.system_id for each in waiting if each.system_id is not None})
    busy_jobs = await executions_repo.busy_by_job(session, job_ids)
    busy_systems = await executions_repo.busy_by_system(session, system_ids)
    limits = await _system_limits(session, system_ids, settings.system_max_concurrency)
    capacity = await worker_capacity(session, settings.worker_heartbeat_ttl_seconds)
    free = capacity - await executions_repo.busy_total(session)
    reasons: dict[uuid.UUID, Waiting] = {}
    for execution in waiting:
        job = jobs[execution.job_id]
        reasons[execution.id] = _reason(
            execution, job, now, busy_jobs, busy_systems, limits, capacity, free
        )
    return reasons


def _reason(
    execution: Execution,
    job: Job,
    now: datetime,
    busy_jobs: dict[uuid.UUID, int],
    busy_systems: dict[uuid.UUID, int],
    limits: dict[uuid.UUID, int],
    capacity: int,
    free: int,
) -> Waiting:
    if execution.status == ExecutionStatus.running:
        return Waiting("cancelling", "cancel requested; the worker is stopping the command")
    if job.cancel_requested_at is not None:
        return Waiting("cancelling", "the job is being cancelled")
    if capacity == 0:
        return Waiting(
            "no_worker", "no worker is running: start one (`orca worker`) to run anything"
        )
    if execution.status == ExecutionStatus.queued:
        return Waiting("worker", "queued: a worker takes it as soon as one has a free slot")
    if execution.not_before is not None and execution.not_before > now:
        return Waiting(
            "retry_backoff",
            f"attempt {execution.attempt + 1} of {job.max_attempts} starts after "
            f"{execution.not_before.isoformat(timespec='seconds')}"
            + (f" ({execution.wait_reason})" if execution.wait_reason else ""),
        )
    busy_job = busy_jobs.get(job.id, 0)
    if job.concurrency is not None and busy_job >= job.concurrency:
        return Waiting(
            "job_concurrency",
            f"waiting for the job's concurrency: {busy_job} of at most {job.concurrency} "
            "systems at once are running",
        )
    if execution.system_id is not None:
        busy = busy_systems.get(execution.system_id, 0)
        limit = limits.get(execution.system_id)
        if limit is not None and busy >= limit:
            return Waiting(
                "system_concurrency",
                f"waiting for the system: it already runs {busy} execution(s), its limit",
            )
    if free <= 0:
        return Waiting("worker", f"waiting for a worker: all {capacity} worker slots are busy")
    return Waiting("dispatching", "about to be handed to a worker")


async def _system_limits(
    session: AsyncSession, system_ids: list[uuid.UUID], default: int
) -> dict[uuid.UUID, int]:
    systems = await common_repo.get_many(session, System, system_ids)
    return {system.id: system.max_concurrency or default for system in systems}


def duration_ms(execution: Execution) -> int | None:
    if execution.started_at is None:
        return None
    end = execution.finished_at or datetime.now(UTC)
    return max(int((end - execution.started_at).total_seconds() * 1000), 0)


def audit_details(execution: Execution, **extra: Any) -> dict[str, Any]:
    return {
        "job_id": str(execution.job_id),
        "system_id": str(execution.system_id) if execution.system_id else None,
        "system": execution.system_name,
        "attempt": execution.attempt + 1,
        **extra,
    }
