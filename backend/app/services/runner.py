"""Running one execution in a worker: claim it, run it through its connector, record the end.

The claim is the compare-and-set queued → running (with this worker's id and a lease); a task
that finds nothing to claim (arq delivered it twice, a cancel won the race) does nothing, so a
command starts at most once. The worker renews its leases with each heartbeat; an execution
whose lease lapses belongs to a worker presumed dead, and the reconciler records it as lost.

Claims and ends are written in batches (`core.batch.GroupCommit`): the executions a worker
claims or ends while the previous batch is being written go into one transaction together, so
under load a worker pays one commit for many executions, and at rest a batch of one costs
nothing extra. Each execution's change is still its own compare-and-set.

Cancel reaches a running execution two ways: a message on `orca:cancel` (at once), and the
lease renewal, which reports executions marked for cancelling (within one heartbeat, should the
message be lost).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.connectors.base import ConnectorError, ExecRequest, ExecResult, Target, Unreachable
from app.connectors.registry import Connectors, UnknownConnector
from app.core.batch import GroupCommit
from app.core.config import Settings
from app.core.db import after_commit, is_transient, retrying
from app.core.vault import Vault, VaultError
from app.models import Execution, Job, System
from app.models.enums import DEFAULT_SHELL, AuditOutcome, ExecutionStatus, Shell
from app.repositories import common as common_repo
from app.repositories import executions as executions_repo
from app.repositories import jobs as jobs_repo
from app.repositories import output as output_repo
from app.services import audit, connectivity, events
from app.services.dispatch import Dispatcher
from app.services.executions import SYSTEM_ACTOR, audit_details, duration_ms, settle
from app.services.metrics import WorkerMetrics
from app.services.output import FinalOutput, OutputLost, OutputWriter

log = logging.getLogger("orca.runner")

# How long past its own timeout a connector may take to stop before we stop waiting for it.
WATCHDOG_SECONDS = 60.0


@dataclass
class Outcome:
    status: ExecutionStatus
    exit_code: int | None = None
    signal: str | None = None
    error_code: str | None = None
    error_reason: str | None = None
    error_message: str | None = None
    retry: bool = False

    def values(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "signal": self.signal,
            "error_code": self.error_code,
            "error_reason": self.error_reason,
            "error_message": self.error_message,
        }


def outcome_of(result: ExecResult, *, shutdown: bool = False) -> Outcome:
    if result.timed_out:
        return Outcome(
            ExecutionStatus.timed_out,
            signal=result.signal,
            error_code="timeout",
            error_message="the command ran past the job's timeout and was stopped",
        )
    if result.cancelled:
        if shutdown:
            return Outcome(
                ExecutionStatus.cancelled,
                error_code="worker_shutdown",
                error_message="the worker shut down before the command finished; it was stopped",
            )
        return Outcome(
            ExecutionStatus.cancelled,
            error_code="cancelled",
            error_message="cancelled while running; the command was stopped",
        )
    if result.exit_code is not None:
        status = ExecutionStatus.succeeded if result.exit_code == 0 else ExecutionStatus.failed
        return Outcome(status, exit_code=result.exit_code)
    if result.signal is not None:
        return Outcome(
            ExecutionStatus.failed,
            signal=result.signal,
            error_code="signal",
            error_message=f"the command was killed by a signal ({result.signal})",
        )
    return Outcome(
        ExecutionStatus.error,
        error_code="unknown_result",
        error_message="the command ended without an exit status",
    )


def error_outcome(error: ConnectorError, job: Job, execution: Execution) -> Outcome:
    retry = (
        isinstance(error, Unreachable)
        and not error.started
        and execution.attempt + 1 < job.max_attempts
    )
    return Outcome(
        ExecutionStatus.error,
        error_code=error.category,
        error_reason=error.reason,
        error_message=error.message,
        retry=retry,
    )


@dataclass
class _Claimed:
    execution: Execution
    job: Job
    target: Target | None
    problem: Outcome | None
    shell: Shell = Shell.sh  # the job's, or the system's default


@dataclass
class _Ended:
    claimed: _Claimed
    outcome: Outcome
    writer: OutputWriter | None = None
    output: FinalOutput | None = None  # what the writer still held, stored with the end


class Runner:
    """What one worker process runs now, and how it runs each."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        vault: Vault,
        connectors: Connectors,
        settings: Settings,
        worker_id: str,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.sessionmaker = dispatcher.sessionmaker
        self.vault = vault
        self.connectors = connectors
        self.settings = settings
        self.worker_id = worker_id
        self.metrics = metrics
        # The cancel signal of every execution this worker holds or is claiming.
        self.running: dict[uuid.UUID, asyncio.Event] = {}
        self.claims: GroupCommit[tuple[uuid.UUID, int], _Claimed | None] = GroupCommit(
            self._claim_batch, name="claims"
        )
        self.ends: GroupCommit[_Ended, None] = GroupCommit(self._end_batch, name="ends")

    def cancel(self, execution_ids: list[uuid.UUID]) -> int:
        hit = 0
        for execution_id in execution_ids:
            event = self.running.get(execution_id)
            if event is not None and not event.is_set():
                event.set()
                hit += 1
        return hit

    async def renew_leases(self) -> None:
        """Extend the leases of what this worker runs; stop what was marked for cancelling."""
        ids = list(self.running)
        if not ids:
            return
        async with self.sessionmaker() as session:
            renewed = await executions_repo.renew_leases(
                session, self.worker_id, ids, self.settings.worker_heartbeat_ttl_seconds
            )
            await session.commit()
        self.cancel([execution_id for execution_id, cancel in renewed if cancel])

    async def run(self, execution_id: uuid.UUID, attempt: int) -> str:
        """The whole life of one claimed execution; what happened, in a word."""
        cancel = self.running.setdefault(execution_id, asyncio.Event())
        try:
            try:
                claimed = await self.claims.submit((execution_id, attempt))
            except Exception as exc:
                if not is_transient(exc):
                    raise
                return "not claimed"  # said once for the batch, in _claim_batch
            if claimed is None:
                return "not claimed"
            if claimed.problem is not None:
                ended = _Ended(claimed, claimed.problem)
            else:
                assert claimed.target is not None
                ended = await self._execute(claimed, cancel)
        finally:
            self.running.pop(execution_id, None)
        await self.ends.submit(ended)
        return ended.outcome.status.value

    async def _claim_batch(self, claims: Sequence[tuple[uuid.UUID, int]]) -> list[_Claimed | None]:
        # Not for long: a worker that cannot claim is likely cut off from the database, and the
        # tasks it holds keep the executions from the workers that can. Given up, they stay
        # queued, and the reconciler queues them again (a claim that did land unbeknown to us
        # lapses with its lease and is recorded as lost: never run twice).
        try:
            return await retrying(
                self.sessionmaker,
                lambda session: self._claim(session, claims),
                what="claiming executions",
                give_up_after=self.settings.worker_heartbeat_ttl_seconds,
            )
        except Exception as exc:
            if is_transient(exc):
                log.warning(
                    "gave up claiming %d executions (database unavailable: %s); they stay "
                    "queued for the reconciler to hand on",
                    len(claims),
                    type(exc).__name__,
                )
            raise

    async def _claim(
        self, session: AsyncSession, claims: Sequence[tuple[uuid.UUID, int]]
    ) -> list[_Claimed | None]:
        rows = await executions_repo.claim_many(
            session, claims, self.worker_id, self.settings.worker_heartbeat_ttl_seconds
        )
        claimed_rows = {row.id: row for row in rows}
        job_ids = sorted({row.job_id for row in rows})
        jobs = {job.id: job for job in await common_repo.get_many(session, Job, job_ids)}
        started_jobs = await jobs_repo.start_many(session, job_ids)
        system_ids = sorted({row.system_id for row in rows if row.system_id is not None})
        systems = {s.id: s for s in await common_repo.get_many(session, System, system_ids)}
        targets = await connectivity.targets_for(session, self.vault, systems.values())
        results: list[_Claimed | None] = []
        for execution_id, attempt in claims:
            # pop: the same task delivered twice into one batch is claimed once.
            execution = claimed_rows.pop(execution_id, None)
            if execution is None or execution.attempt != attempt:
                log.debug("execution %s attempt %d: nothing to claim", execution_id, attempt)
                results.append(None)
                continue
            job = jobs[execution.job_id]  # executions go with their job
            system = systems.get(execution.system_id) if execution.system_id else None
            target: Target | None = None
            problem: Outcome | None = None
            if system is None:
                problem = Outcome(
                    ExecutionStatus.error,
                    error_code="system_deleted",
                    error_message="the system was deleted after the job was submitted",
                )
            else:
                found = targets[system.id]
                if isinstance(found, ConnectorError):
                    problem = Outcome(
                        ExecutionStatus.error, error_code="credential", error_message=found.message
                    )
                else:
                    target = found
            await audit.record(
                session,
                "execution.start",
                actor_username=SYSTEM_ACTOR,
                target_type="execution",
                target_id=execution.id,
                details=audit_details(execution, worker=self.worker_id),
            )
            shell = job.shell or (DEFAULT_SHELL[system.kind] if system is not None else Shell.sh)
            results.append(_Claimed(execution, job, target, problem, shell))
        if rows:
            after_commit(
                session,
                lambda: events.publish_executions(self.dispatcher.redis, rows, started_jobs),
            )
        return results

    async def _execute(self, claimed: _Claimed, cancel: asyncio.Event) -> _Ended:
        job, execution, target = claimed.job, claimed.execution, claimed.target
        assert target is not None
        try:
            connector = self.connectors.get(execution.connector)
            env = self.vault.open(job.environment_sealed) if job.environment_sealed else {}
        except UnknownConnector as error:
            return _Ended(
                claimed,
                Outcome(ExecutionStatus.error, error_code="unsupported", error_message=str(error)),
            )
        except VaultError as error:
            return _Ended(
                claimed,
                Outcome(ExecutionStatus.error, error_code="credential", error_message=str(error)),
            )
        request = ExecRequest(
            command=job.command if job.command is not None else job.script or "",
            shell=claimed.shell,
            env=env,
            cwd=job.working_directory,
            timeout=job.timeout_seconds,
        )
        writer = OutputWriter(
            self.sessionmaker,
            self.dispatcher.redis,
            job_id=job.id,
            execution_id=execution.id,
            cap=self.settings.output_max_bytes,
            seq=execution.output_seq,
            kept=execution.output_bytes,
            dropped=execution.output_dropped_bytes,
        )
        shutdown = False
        outcome: Outcome | None = None
        final: FinalOutput | None = None
        began = time.monotonic()
        task = asyncio.ensure_future(connector.execute(target, request, writer.write, cancel))
        try:
            try:
                result = await asyncio.wait_for(
                    asyncio.shield(task), timeout=job.timeout_seconds + WATCHDOG_SECONDS
                )
            except asyncio.CancelledError:
                # The worker is shutting down past its grace period: stop the command properly.
                shutdown = True
                cancel.set()
                result = await asyncio.wait_for(task, timeout=WATCHDOG_SECONDS)
            except TimeoutError:
                cancel.set()
                result = await asyncio.wait_for(task, timeout=WATCHDOG_SECONDS)
            outcome = outcome_of(result, shutdown=shutdown)
        except ConnectorError as error:
            outcome = error_outcome(error, job, execution)
        except OutputLost as error:
            outcome = Outcome(
                ExecutionStatus.error, error_code="output_lost", error_message=str(error)
            )
        except TimeoutError:
            task.cancel()
            outcome = Outcome(
                ExecutionStatus.error,
                error_code="connector_hung",
                error_message="the connector did not stop the command; its outcome is unknown",
            )
        except Exception as error:  # a bug must not leave the execution running for ever
            log.exception("execution %s failed inside the worker", execution.id)
            outcome = Outcome(
                ExecutionStatus.error,
                error_code="internal",
                error_message=f"internal error in the worker ({type(error).__name__})",
            )
        finally:
            if self.metrics is not None:
                self.metrics.execution_seconds.labels(execution.connector).observe(
                    time.monotonic() - began
                )
            try:
                final = await writer.finish()
            except OutputLost as error:
                outcome = Outcome(
                    ExecutionStatus.error, error_code="output_lost", error_message=str(error)
                )
        return _Ended(claimed, outcome, writer, final)

    async def _end_batch(self, ended: Sequence[_Ended]) -> list[None]:
        await retrying(
            self.sessionmaker,
            lambda session: self._end(session, ended),
            what="recording executions' ends",
        )
        return [None] * len(ended)

    async def _end(self, session: AsyncSession, ended: Sequence[_Ended]) -> None:
        """Record how each execution ended, with the last of its output; then settle their
        jobs, each once for the batch."""
        changed: list[Execution] = []
        delays: set[float] = set()
        jobs: set[uuid.UUID] = set()
        finished: list[tuple[str, ExecutionStatus]] = []
        for item in sorted(ended, key=lambda each: each.claimed.execution.id):
            row = await self._end_one(session, item, delays)
            if row is not None:
                changed.append(row)
                if row.status != ExecutionStatus.pending:  # a retry leaves its job as it was
                    jobs.add(row.job_id)
                    finished.append((row.connector, row.status))
        settled_jobs: list[Job] = []
        for job_id in sorted(jobs):  # one order for every worker: no deadlock between batches
            settled = await settle(session, job_id)
            changed.extend(settled.executions)
            if settled.job is not None:
                settled_jobs.append(settled.job)
        outputs = [
            (item.writer, item.output.rows)
            for item in ended
            if item.writer is not None and item.output is not None and item.output.rows
        ]

        async def publish() -> None:
            for writer, rows in outputs:
                await writer.publish(rows)
            await events.publish_executions(self.dispatcher.redis, changed, settled_jobs)

        after_commit(session, publish)
        if self.metrics is not None and finished:
            # Counted once committed: a batch tried again after an outage counts once.
            after_commit(session, functools.partial(self._count, finished))
        for delay in sorted(delays):
            after_commit(session, functools.partial(self.dispatcher.run_later, delay))
        if jobs:
            after_commit(session, self.dispatcher.ask)  # slots came free

    async def _count(self, finished: list[tuple[str, ExecutionStatus]]) -> None:
        assert self.metrics is not None
        for connector, status in finished:
            self.metrics.finished(connector, status)

    async def _end_one(
        self, session: AsyncSession, item: _Ended, delays: set[float]
    ) -> Execution | None:
        execution, job, outcome = item.claimed.execution, item.claimed.job, item.outcome
        totals: dict[str, Any] = {}
        if item.output is not None:
            await output_repo.append(session, item.output.rows)
            await output_repo.drop(session, execution.id, item.output.dropped_seqs)
            totals = item.output.totals()
        if outcome.retry:
            delay = job.retry_backoff_seconds * (2**execution.attempt)
            row = await executions_repo.retry_later(
                session,
                execution.id,
                self.worker_id,
                delay,
                f"{outcome.error_reason}: {outcome.error_message}",
                **totals,
            )
            if row is None:
                return None
            await audit.record(
                session,
                "execution.retry",
                actor_username=SYSTEM_ACTOR,
                outcome=AuditOutcome.failure,
                target_type="execution",
                target_id=row.id,
                details=audit_details(
                    execution,
                    error=outcome.error_code,
                    reason=outcome.error_reason,
                    retry_in_seconds=delay,
                ),
            )
            delays.add(delay)
            return row
        row = await executions_repo.finish(
            session, execution.id, self.worker_id, outcome.status, **outcome.values(), **totals
        )
        if row is None:
            log.warning("execution %s was decided elsewhere (lease lost?)", execution.id)
            if item.output is not None:
                await output_repo.record_totals(
                    session,
                    execution.id,
                    seq=item.output.seq,
                    kept=item.output.kept,
                    dropped=item.output.dropped,
                )
            return None
        await audit.record(
            session,
            "execution.finish",
            actor_username=SYSTEM_ACTOR,
            outcome=AuditOutcome.success
            if outcome.status == ExecutionStatus.succeeded
            else AuditOutcome.failure,
            target_type="execution",
            target_id=row.id,
            details=audit_details(
                row,
                status=outcome.status.value,
                exit_code=outcome.exit_code,
                error=outcome.error_code,
                duration_ms=duration_ms(row),
            ),
        )
        return row
