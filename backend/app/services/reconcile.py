"""The reconciler: make the database's view of work true again after a loss.

Run by an arq cron on one worker every 15 seconds. Each tick:
  1. running executions whose lease lapsed (their worker stopped renewing: killed, or cut off
     from PostgreSQL longer than the heartbeat TTL) become `error` with code `worker_lost`.
     They are not run again: the command may have started, and starting it twice is worse.
     A reconciler that was itself cut off from PostgreSQL in the last TTL skips this step: the
     whole pool was likely cut off with it (PostgreSQL stopped or restarted), and its workers
     need a TTL to renew the leases that lapsed meanwhile.
  2. queued executions no worker took within `requeue_after` seconds whose arq task is not
     waiting in the queue (Redis lost it, or a worker died holding it) get a fresh arq task; a
     duplicate is harmless, the claim is a compare-and-set. A worker claims what it takes at
     once, so a task neither waiting nor claimed after that long is gone (or held by a dead
     worker, which arq would not give to another for a day).
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

from arq.constants import in_progress_key_prefix
from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import after_commit, retrying
from app.core.redis import QUEUE_NAME
from app.models import Execution, WorkerHeartbeat
from app.models.enums import AuditOutcome, ExecutionStatus
from app.repositories import executions as executions_repo
from app.repositories import jobs as jobs_repo
from app.services import audit, events
from app.services.dispatch import Dispatcher, execution_of_task
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


async def reconcile(
    dispatcher: Dispatcher, *, requeue_after: float = 10.0, judge_leases: bool = True
) -> Reconciled:
    sessionmaker = dispatcher.sessionmaker
    async with sessionmaker() as session:
        expired = await executions_repo.lease_expired(session, BATCH) if judge_leases else []
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
    waiting = await _waiting_in_queue(dispatcher) if stale else set()
    for execution in stale:
        if execution.id in waiting:
            continue
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


async def _waiting_in_queue(dispatcher: Dispatcher) -> set[uuid.UUID]:
    """Executions whose arq task waits in the queue for a worker to take it (the queue is
    short: dispatch fills free slots). A task a worker has taken stays in arq's queue until it
    ends, marked in progress; one taken by a worker that died stays so for a day."""
    redis = dispatcher.redis
    tasks: dict[str, uuid.UUID] = {}
    for member in await redis.zrange(QUEUE_NAME, 0, -1):
        task = member.decode() if isinstance(member, bytes) else str(member)
        if (execution_id := execution_of_task(task)) is not None:
            tasks[task] = execution_id
    if not tasks:
        return set()
    taken = await redis.mget([in_progress_key_prefix + task for task in tasks])
    return {
        execution_id
        for execution_id, mark in zip(tasks.values(), taken, strict=True)
        if mark is None
    }


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
