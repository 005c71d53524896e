"""Dispatch: which pending executions get a worker now, and handing them to arq.

A pass moves executions pending → queued, and enqueues one arq task for each after the commit.
It queues no more than the live workers have free slots, so the arq queue stays short and the
order in which work starts is decided here, not by arq's first-in first-out: jobs of higher
priority first, then older jobs first; within a job, targets in order. It skips:
  - jobs being cancelled or stopped by their failure threshold;
  - executions past their job's concurrency (queued + running ≥ `concurrency`);
  - executions on a system already running its limit of executions, across all jobs
    (the system's `max_concurrency`, else ORCA_SYSTEM_MAX_CONCURRENCY);
  - retries whose backoff has not passed.

Passes run one at a time (a PostgreSQL advisory lock). A pass asked for while another runs is
not lost: it leaves a flag in Redis and the running pass goes round again. Passes are asked for
after a job is submitted, after each execution ends, when a worker starts, and every reconciler
tick, so a lost request only delays work, never strands it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from arq.connections import ArqRedis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.db import UNAVAILABLE
from app.core.redis import QUEUE_NAME
from app.models import Execution, WorkerHeartbeat
from app.repositories import executions as executions_repo
from app.repositories import jobs as jobs_repo
from app.services import events

log = logging.getLogger("orca.dispatch")

# pg_try_advisory_xact_lock key: "orca" and 1.
DISPATCH_LOCK = 0x6F726361_00000001
AGAIN_KEY = "orca:dispatch:again"
RUN_TASK = "run_execution"
DISPATCH_TASK = "dispatch"
JOBS_PER_PASS = 200
MAX_ROUNDS = 50


def task_id(execution_id: object, attempt: int, generation: int = 0) -> str:
    """The arq job id of an execution's attempt. A requeue by the reconciler takes a new
    generation: arq refuses a second job under an id it still holds."""
    suffix = f":r{generation}" if generation else ""
    return f"exec:{execution_id}:{attempt}{suffix}"


def execution_of_task(task: str) -> uuid.UUID | None:
    """The execution a task id from `task_id` runs (None for other tasks)."""
    kind, _, rest = task.partition(":")
    if kind != "exec":
        return None
    try:
        return uuid.UUID(rest.partition(":")[0])
    except ValueError:
        return None


async def worker_capacity(session: AsyncSession, ttl_seconds: float) -> int:
    """Execution slots of the workers alive and not shutting down."""
    result = await session.execute(
        select(func.coalesce(func.sum(WorkerHeartbeat.max_jobs), 0)).where(
            WorkerHeartbeat.last_seen_at > func.now() - timedelta(seconds=ttl_seconds),
            WorkerHeartbeat.draining.is_(False),
        )
    )
    return int(result.scalar_one())


@dataclass
class Dispatcher:
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: ArqRedis
    settings: Settings
    _wanted: bool = field(default=False, init=False)
    _serving: asyncio.Task[None] | None = field(default=None, init=False)

    async def run(self) -> int:
        """Run passes until nothing more can start; the number of executions queued."""
        queued_total = 0
        for _ in range(MAX_ROUNDS):
            async with self.sessionmaker() as session:
                locked = (
                    await session.execute(select(func.pg_try_advisory_xact_lock(DISPATCH_LOCK)))
                ).scalar_one()
                if not locked:
                    # Another pass is running: ask it to go round once more for us.
                    await self.redis.set(AGAIN_KEY, b"1", ex=60)
                    return queued_total
                queued, more = await self._pass(session)
                await session.commit()
            await self.enqueue(queued)
            queued_total += len(queued)
            again = await self.redis.getdel(AGAIN_KEY)
            if not (more or again):
                break
        return queued_total

    async def _pass(self, session: AsyncSession) -> tuple[list[Execution], bool]:
        capacity = await worker_capacity(
            session, self.settings.worker_heartbeat_ttl_seconds
        ) - await executions_repo.busy_total(session)
        if capacity <= 0:
            return [], False
        jobs = await jobs_repo.dispatchable(session, JOBS_PER_PASS)
        busy = await executions_repo.busy_by_job(session, [job.id for job in jobs])
        queued: list[Execution] = []
        for job in jobs:
            allowed = capacity
            if job.concurrency is not None:
                allowed = min(allowed, job.concurrency - busy.get(job.id, 0))
            if allowed <= 0:
                continue
            taken = await executions_repo.queue_pending(
                session, job.id, allowed, self.settings.system_max_concurrency
            )
            queued.extend(taken)
            capacity -= len(taken)
            if capacity <= 0:
                break
        # More jobs than one pass looks at, with slots still free: go round again.
        return queued, len(jobs) == JOBS_PER_PASS and capacity > 0 and bool(queued)

    async def enqueue(self, executions: Sequence[Execution], generation: int = 0) -> None:
        """One arq task per execution; then their new state on the live channels."""
        for execution in executions:
            await self.redis.enqueue_job(
                RUN_TASK,
                str(execution.id),
                execution.attempt,
                _job_id=task_id(execution.id, execution.attempt, generation),
                _queue_name=QUEUE_NAME,
            )
        if executions and not generation:
            await events.publish_executions(self.redis, executions)

    async def run_later(self, delay_seconds: float) -> None:
        """A pass in `delay_seconds` (when a retry's backoff ends)."""
        await self.redis.enqueue_job(
            DISPATCH_TASK, _defer_by=max(delay_seconds, 0.0), _queue_name=QUEUE_NAME
        )

    def request(self) -> None:
        """A pass soon, in the background. Requests made while a pass runs are served by one
        more pass after it, not one each: a worker ending many executions at once asks for
        one pass per batch, and this process runs one at a time."""
        self._wanted = True
        if self._serving is None or self._serving.done():
            self._serving = asyncio.create_task(self._serve(), name="dispatch")

    async def ask(self) -> None:
        """`request`, as work after a commit: the caller (a request, an execution's end) does
        not wait for the pass."""
        self.request()

    async def _serve(self) -> None:
        while self._wanted:
            self._wanted = False
            await self.run_safely()

    async def run_safely(self) -> None:
        """A pass whose failure is logged, not raised (after-commit work)."""
        try:
            await self.run()
        except UNAVAILABLE as exc:
            log.warning(
                "dispatch pass failed (%s); the reconciler will retry it", type(exc).__name__
            )
        except Exception:
            log.exception("dispatch pass failed; the reconciler will retry it")
