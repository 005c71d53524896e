"""Retention: the output of old executions, and old finished jobs with their executions, are
removed when they pass the configured ages. The audit log is not touched: it is append-only
(the database refuses to delete from it) and kept by its own policy, whatever this one says.

Work goes in batches, each its own short transaction, so that a large backlog never holds
locks or one huge transaction; a run stopped half way leaves a consistent state and the next
run goes on. Output is removed before a job is deleted, so deleting it cascades to little.
Every run that removed something writes one audit row with what it removed.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.repositories import retention as retention_repo
from app.services import audit

log = logging.getLogger("orca.retention")

ACTOR = "orca-retention"


@dataclass(frozen=True)
class Policy:
    output_days: int  # 0: keep output as long as its job
    jobs_days: int  # 0: keep finished jobs for ever
    batch_size: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            settings.retention_output_days,
            settings.retention_jobs_days,
            settings.retention_batch_size,
        )

    @property
    def active(self) -> bool:
        return bool(self.output_days or self.jobs_days)


@dataclass(frozen=True)
class Cutoffs:
    now: datetime
    output: datetime | None  # output of jobs finished before this goes
    jobs: datetime | None  # jobs finished before this go

    @classmethod
    def at(cls, policy: Policy, now: datetime) -> Cutoffs:
        jobs = now - timedelta(days=policy.jobs_days) if policy.jobs_days else None
        output = now - timedelta(days=policy.output_days) if policy.output_days else None
        # The output of jobs about to be deleted goes first, batch by batch.
        if jobs is not None and (output is None or jobs > output):
            output = jobs
        return cls(now, output, jobs)


@dataclass
class Report:
    """What a run removed, or (dry run) what it would remove now."""

    dry_run: bool
    output_days: int
    jobs_days: int
    output_before: datetime | None
    jobs_before: datetime | None
    executions_output_removed: int = 0
    output_bytes_removed: int = 0
    jobs_removed: int = 0
    executions_removed: int = 0
    schedule_runs_removed: int = 0
    oldest_job_finished_at: datetime | None = None
    complete: bool = True  # False: stopped at its time limit; the next run goes on

    @property
    def removed_anything(self) -> bool:
        return bool(
            self.executions_output_removed
            or self.jobs_removed
            or self.executions_removed
            or self.schedule_runs_removed
        )


async def _now(session: AsyncSession) -> datetime:
    moment = await session.scalar(select(func.now()))
    assert isinstance(moment, datetime)
    return moment


def _report(policy: Policy, cutoffs: Cutoffs, dry_run: bool) -> Report:
    return Report(
        dry_run=dry_run,
        output_days=policy.output_days,
        jobs_days=policy.jobs_days,
        output_before=cutoffs.output,
        jobs_before=cutoffs.jobs,
    )


async def dry_run(session: AsyncSession, policy: Policy) -> Report:
    """What a run would remove now, changing nothing."""
    cutoffs = Cutoffs.at(policy, await _now(session))
    report = _report(policy, cutoffs, dry_run=True)
    if cutoffs.output is not None:
        executions, size = await retention_repo.output_due(session, cutoffs.output)
        report.executions_output_removed = executions
        report.output_bytes_removed = size
    if cutoffs.jobs is not None:
        jobs, executions, oldest = await retention_repo.jobs_due(session, cutoffs.jobs)
        report.jobs_removed = jobs
        report.executions_removed = executions
        report.oldest_job_finished_at = oldest
        report.schedule_runs_removed = await retention_repo.schedule_runs_due(session, cutoffs.jobs)
    return report


async def enforce(
    sessionmaker: async_sessionmaker[AsyncSession],
    policy: Policy,
    *,
    max_seconds: float = 3000.0,
) -> Report:
    """Remove what the policy says is too old, a batch per transaction, for at most
    `max_seconds` (the next run goes on from there)."""
    deadline = time.monotonic() + max_seconds
    async with sessionmaker() as session:
        cutoffs = Cutoffs.at(policy, await _now(session))
    report = _report(policy, cutoffs, dry_run=False)
    batch = policy.batch_size

    def out_of_time() -> bool:
        if time.monotonic() < deadline:
            return False
        report.complete = False
        return True

    if cutoffs.output is not None:
        while not out_of_time():
            async with sessionmaker() as session:
                executions, size = await retention_repo.purge_output_batch(
                    session, cutoffs.output, batch
                )
                marked = await retention_repo.mark_jobs_purged(session, cutoffs.output, batch)
                await session.commit()
            report.executions_output_removed += executions
            report.output_bytes_removed += size
            if not executions and marked < batch:
                break
    if cutoffs.jobs is not None:
        while not out_of_time():
            async with sessionmaker() as session:
                job_ids = await retention_repo.oldest_jobs(session, cutoffs.jobs, 100)
                await session.commit()  # the locks only kept two runs apart while choosing
            if not job_ids:
                break
            for job_id in job_ids:
                await _delete_job(sessionmaker, job_id, batch, report)
                if out_of_time():
                    break
        while not out_of_time():
            async with sessionmaker() as session:
                removed = await retention_repo.delete_schedule_runs(session, cutoffs.jobs, batch)
                await session.commit()
            report.schedule_runs_removed += removed
            if removed < batch:
                break
    if report.removed_anything:
        async with sessionmaker() as session:
            await audit.record(
                session,
                "retention.purge",
                actor_username=ACTOR,
                target_type="retention",
                details=_details(report),
            )
            await session.commit()
        log.info("retention: %s", _details(report))
    return report


async def _delete_job(
    sessionmaker: async_sessionmaker[AsyncSession], job_id: uuid.UUID, batch: int, report: Report
) -> None:
    while True:
        async with sessionmaker() as session:
            removed = await retention_repo.delete_executions_batch(session, job_id, batch)
            await session.commit()
        report.executions_removed += removed
        if removed < batch:
            break
    async with sessionmaker() as session:
        if await retention_repo.delete_job(session, job_id):
            report.jobs_removed += 1
        await session.commit()


def _details(report: Report) -> dict[str, object]:
    values = asdict(report)
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in values.items()
        if key != "dry_run"
    }
