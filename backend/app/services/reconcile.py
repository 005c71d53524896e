"""The reconciler: make the database's view of work true again after a loss.

Run by an arq cron on one worker every 15 seconds. Each tick:
  1. running executions whose lease lapsed (their worker stopped renewing: killed, or cut off
     from PostgreSQL longer than the heartbeat TTL) become `error` with code `worker_lost`.
     They are not run again: the command may have started, and starting it twice is worse.
  2. queued executions no worker took within `requeue_after` seconds (Redis lost the task, or
     a worker died holding it) get a fresh arq task; a duplicate is harmless, the claim is a
     compare-and-set.
  3. jobs with nothing left to run but not marked finished (a worker died between the two
     writes) are finished.
  4. a dispatch pass, for pending executions whose pass was lost and retries now due.
"""

from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import after_commit, retrying
from app.models import Execution, WorkerHeartbeat
from app.models.enums import AuditOutcome, ExecutionStatus
from app.repositories import executions as executions_repo
from app.repositories import jobs as jobs_repo
from app.services import audit, events
from app.services.dispatch import Dispatcher
from app.services.executions import SYSTEM_ACTOR, audit_details, settle

log = logging.getLogger("orca.reconcile")

BATCH = 1000
HEARTBEAT_RETENTION = timedelta(days=1)


@dataclass(frozen=True)
class Reconciled:
    lost: int
    requeued: int
    finished_jobs: int
    dispatched: int


async def reconcile(dispatcher: Dispatcher, *, requeue_after: float = 60.0) -> Reconciled:
    sessionmaker = dispatcher.sessionmaker
    async with sessionmaker() as session:
        expired = await executions_repo.lease_expired(session, BATCH)
        stale = await executions_repo.queued_before(
            session, datetime.now(UTC) - timedelta(seconds=requeue_after), BATCH
        )
        orphans = await jobs_repo.unfinished_with_all_done(session, BATCH)
        await session.execute(
            delete(WorkerHeartbeat).where(
                WorkerHeartbeat.last_seen_at < func.now() - HEARTBEAT_RETENTION
            )
        )
        await session.commit()

    lost = 0
    for execution in expired:
        if await retrying(
            sessionmaker,
            functools.partial(_lost, dispatcher=dispatcher, execution=execution),
            what="recording a lost execution",
        ):
            lost += 1

    requeued: list[Execution] = []
    for execution in stale:
        row = await retrying(
            sessionmaker,
            functools.partial(executions_repo.requeue, execution_id=execution.id),
            what="requeueing an execution",
        )
        if row is not None:
            await dispatcher.enqueue([row], generation=row.version)
            requeued.append(row)

    for job_id in orphans:
        await retrying(
            sessionmaker,
            functools.partial(_finish_job, dispatcher=dispatcher, job_id=job_id),
            what="finishing a job",
        )

    dispatched = await dispatcher.run()
    if lost or requeued or orphans:
        log.warning(
            "reconciled: %d execution(s) of lost workers, %d requeued, %d job(s) finished",
            lost,
            len(requeued),
            len(orphans),
        )
    return Reconciled(lost, len(requeued), len(orphans), dispatched)


async def _lost(session: AsyncSession, dispatcher: Dispatcher, execution: Execution) -> bool:
    row = await executions_repo.finish(
        session,
        execution.id,
        None,
        ExecutionStatus.error,
        error_code="worker_lost",
        error_reason="lease_expired",
        error_message=f"worker {execution.worker_id} stopped reporting while this ran; the "
        "command's outcome is unknown and it was not run again",
    )
    if row is None:  # its worker renewed the lease or finished it meanwhile
        return False
    await audit.record(
        session,
        "execution.finish",
        actor_username=SYSTEM_ACTOR,
        outcome=AuditOutcome.failure,
        target_type="execution",
        target_id=row.id,
        details=audit_details(row, status=row.status.value, error="worker_lost"),
    )
    settled = await settle(session, row.job_id)
    after_commit(
        session,
        lambda: events.publish_executions(
            dispatcher.redis, [row, *settled.executions], [settled.job] if settled.job else []
        ),
    )
    return True


async def _finish_job(session: AsyncSession, dispatcher: Dispatcher, job_id: uuid.UUID) -> None:
    settled = await settle(session, job_id)
    if settled.job is not None:
        job = settled.job
        after_commit(session, lambda: events.publish_executions(dispatcher.redis, [], [job]))
