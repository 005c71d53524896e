"""The reconciler puts right what a lost worker or a lost Redis left behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from arq.constants import in_progress_key_prefix
from sqlalchemy import select, update

from app.core.redis import QUEUE_NAME
from app.models import AuditEvent, Execution, Job
from app.models.enums import ExecutionStatus, JobStatus
from app.services.dispatch import RUN_TASK, Dispatcher, task_id
from app.services.reconcile import reconcile
from tests.fixtures.engine import Engine


async def _set(orca: Engine, execution_id: str, **values: object) -> None:
    async with orca.live.session() as session:
        await session.execute(
            update(Execution).where(Execution.id == execution_id).values(**values)
        )
        await session.commit()


async def _lapsed(orca: Engine, execution_id: str, worker_id: str, ago: timedelta) -> None:
    """Running on `worker_id` since `ago`, its lease lapsed as long."""
    past = datetime.now(UTC) - ago
    await _set(
        orca,
        execution_id,
        status=ExecutionStatus.running,
        worker_id=worker_id,
        started_at=past,
        lease_expires_at=past,
    )


async def _one_job(orca: Engine) -> tuple[dict[str, Any], dict[str, Any]]:
    """A job of `true` on one local system, and its execution (pending: no worker yet)."""
    await orca.local_system("a")
    job = await orca.submit({"command": "true", "targets": {"systems": ["a"]}})
    (execution,) = await orca.executions(job["id"])
    return job, execution


async def test_executions_of_a_lost_worker_end_in_error_and_are_not_rerun(
    idle_orca: Engine,
) -> None:
    orca = idle_orca
    job, execution = await _one_job(orca)
    # As a worker SIGKILLed mid-run leaves it: running, its lease lapsed.
    await _lapsed(orca, execution["id"], "ghost:1:dead", timedelta(minutes=1))
    dispatcher: Dispatcher = orca.live.app.state.dispatcher
    result = await reconcile(dispatcher)
    assert result.lost == 1
    (row,) = await orca.executions(job["id"])
    assert row["status"] == "error" and row["error"]["code"] == "worker_lost"
    assert "ghost:1:dead" in row["error"]["message"]
    assert (await orca.job(job["id"]))["status"] == "failed"
    # A second tick finds nothing more to do.
    assert (await reconcile(dispatcher)).lost == 0
    async with orca.live.session() as session:
        finish = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "execution.finish"))
        ).scalar_one()
    assert finish.actor_username == "system" and finish.details["error"] == "worker_lost"


async def test_a_reconciler_just_back_from_an_outage_judges_no_lease(idle_orca: Engine) -> None:
    orca = idle_orca
    job, execution = await _one_job(orca)
    # What a PostgreSQL outage leaves: a lease its (live) worker could not renew meanwhile.
    await _lapsed(orca, execution["id"], "cut-off:1:alive", timedelta(seconds=20))
    dispatcher: Dispatcher = orca.live.app.state.dispatcher
    assert (await reconcile(dispatcher, judge_leases=False)).lost == 0
    (row,) = await orca.executions(job["id"])
    assert row["status"] == "running"
    # A tick on a worker connected for a whole TTL does judge it.
    assert (await reconcile(dispatcher)).lost == 1


async def test_a_live_lease_is_left_alone(idle_orca: Engine) -> None:
    orca = idle_orca
    job, execution = await _one_job(orca)
    await _set(
        orca,
        execution["id"],
        status=ExecutionStatus.running,
        worker_id="busy:1:alive",
        lease_expires_at=datetime.now(UTC) + timedelta(minutes=1),
    )
    assert (await reconcile(orca.live.app.state.dispatcher)).lost == 0
    (row,) = await orca.executions(job["id"])
    assert row["status"] == "running"


async def test_work_redis_lost_is_queued_again(idle_orca: Engine) -> None:
    orca = idle_orca
    job, execution = await _one_job(orca)
    # Queued long ago, but its task is nowhere in Redis.
    await _set(
        orca,
        execution["id"],
        status=ExecutionStatus.queued,
        queued_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    await orca.start_worker()
    result = await reconcile(orca.live.app.state.dispatcher)
    assert result.requeued == 1
    assert (await orca.finished(job["id"]))["status"] == "succeeded"


async def test_only_tasks_no_live_worker_can_take_are_queued_again(idle_orca: Engine) -> None:
    orca = idle_orca
    job, execution = await _one_job(orca)
    await _set(
        orca,
        execution["id"],
        status=ExecutionStatus.queued,
        queued_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    dispatcher: Dispatcher = orca.live.app.state.dispatcher
    # Its task waits in arq's queue (no worker to take it yet): nothing is lost.
    await dispatcher.redis.enqueue_job(
        RUN_TASK, execution["id"], 1, _job_id=task_id(execution["id"], 1, 7), _queue_name=QUEUE_NAME
    )
    assert (await reconcile(dispatcher)).requeued == 0
    # Taken by a worker that then died (arq marks it in progress, for a day): queued again.
    await dispatcher.redis.set(in_progress_key_prefix + task_id(execution["id"], 1, 7), b"1")
    assert (await reconcile(dispatcher)).requeued == 1
    # Queued only a moment ago and taken by no one yet: it is given time.
    await dispatcher.redis.delete(QUEUE_NAME)
    await _set(orca, execution["id"], queued_at=datetime.now(UTC))
    assert (await reconcile(dispatcher)).requeued == 0
    (row,) = await orca.executions(job["id"])
    assert row["status"] == "queued"


async def test_a_job_left_unfinished_is_finished(idle_orca: Engine) -> None:
    orca = idle_orca
    job, execution = await _one_job(orca)
    await _set(
        orca, execution["id"], status=ExecutionStatus.succeeded, finished_at=datetime.now(UTC)
    )
    result = await reconcile(orca.live.app.state.dispatcher)
    assert result.finished_jobs == 1
    async with orca.live.session() as session:
        status = await session.scalar(select(Job.status).where(Job.id == job["id"]))
    assert status == JobStatus.succeeded
