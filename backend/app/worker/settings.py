"""The arq worker: its context, its heartbeat (which also renews its executions' leases), the
cancel listener, graceful shutdown, and the functions and crons it runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import time
import uuid
from typing import Any

from arq import cron
from arq.worker import Worker

from app import __version__
from app.connectors.registry import Connectors
from app.core import memory
from app.core.config import Settings
from app.core.db import create_sessionmaker, engine_from_settings
from app.core.redis import QUEUE_NAME, REDIS_ERRORS, arq_redis_settings
from app.core.vault import Vault
from app.repositories import workers as workers_repo
from app.services import events, metrics
from app.services.dispatch import Dispatcher
from app.services.runner import Runner
from app.worker.tasks import (
    check_systems,
    dispatch,
    dispatch_schedules,
    enforce_retention,
    ping,
    reconcile,
    run_execution,
)

log = logging.getLogger("orca.worker")

__all__ = ["QUEUE_NAME", "OrcaWorker", "build_worker"]

# Slots beyond ORCA_WORKER_MAX_JOBS for the worker's own upkeep (reconciler, dispatch, health
# sweep), so a worker full of executions still reconciles.
UPKEEP_SLOTS = 4
# Longest a job may ask for (jobs' timeout_seconds is at most a day), plus room to stop it.
TASK_TIMEOUT = 86400 + 600


REDIS_RETRY_SECONDS = 1.0


class OrcaWorker(Worker):
    """arq's worker, which
    - on SIGTERM also says at once that it is draining, so no new work is dispatched to its
      slots while it finishes what it runs;
    - outlives Redis going away. arq's poll loop ends the worker on the first Redis error, and
      the executions it runs would die with it; here the executions go on (they need only
      PostgreSQL and their hosts), and the loop polls again until Redis answers. What Redis
      lost meanwhile, the reconciler puts right."""

    _redis_down = False
    _database_stale = False

    async def _poll_iteration(self) -> None:
        if not self._database_fresh():
            await asyncio.sleep(self.poll_delay_s)
            return
        try:
            await super()._poll_iteration()
        except REDIS_ERRORS as exc:
            if not self._redis_down:
                log.warning(
                    "Redis unreachable (%s); running executions go on, new work waits",
                    type(exc).__name__,
                )
                self._redis_down = True
            await asyncio.sleep(REDIS_RETRY_SECONDS)
            return
        if self._redis_down:
            log.info("Redis reachable again")
            self._redis_down = False

    def _database_fresh(self) -> bool:
        """Whether the last heartbeat recorded is recent enough to take new work. A worker cut
        off from PostgreSQL (Redis still in reach) would otherwise go on taking tasks it cannot
        claim, and hold them from the workers that can."""
        settings: Settings | None = self.ctx.get("settings")
        ok_at: float | None = self.ctx.get("database_ok_at")
        if settings is None:
            return True  # before startup
        stale_after = max(
            settings.worker_heartbeat_ttl_seconds / 2, settings.worker_heartbeat_seconds * 2
        )
        fresh = ok_at is not None and time.monotonic() - ok_at <= stale_after
        if not fresh and not self._database_stale and ok_at is not None:
            log.warning(
                "no heartbeat recorded for %.0fs (PostgreSQL unreachable?); taking no new work",
                time.monotonic() - ok_at,
            )
        elif fresh and self._database_stale:
            log.info("heartbeat recorded again; taking work")
        self._database_stale = not fresh
        return fresh

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        # arq takes a slot before the Redis calls that start a task, and does not give it back
        # when one of them fails: a slot lost per failure would shrink the worker for good.
        for job_id in job_ids:
            try:
                await super().start_jobs([job_id])
            except REDIS_ERRORS:
                self._release_sem_dec_counter_on_complete()
                raise

    def handle_sig_wait_for_completion(self, signum: signal.Signals) -> None:
        self.ctx["draining"] = True
        beat = self.ctx.get("beat_now")
        if beat is not None:
            beat.set()
        super().handle_sig_wait_for_completion(signum)


async def _beat(ctx: dict[str, Any], settings: Settings) -> None:
    runner: Runner = ctx["runner"]
    async with ctx["sessionmaker"]() as session:
        await workers_repo.beat(
            session,
            worker_id=ctx["worker_id"],
            hostname=socket.gethostname(),
            pid=os.getpid(),
            version=__version__,
            max_jobs=settings.worker_max_jobs,
            running_jobs=len(runner.running),
            draining=bool(ctx.get("draining")),
        )
        await session.commit()
    await runner.renew_leases()


async def _heartbeat_loop(ctx: dict[str, Any], settings: Settings) -> None:
    failing = False
    first = True
    beat_now: asyncio.Event = ctx["beat_now"]
    while True:
        try:
            await _beat(ctx, settings)
            ctx["database_ok_at"] = time.monotonic()
            if failing:
                log.info("heartbeat recorded again")
            if failing or first:
                ctx["database_ok_since"] = time.monotonic()
            failing = False
            if first:
                # New slots: whatever waits for a worker can start now.
                first = False
                await ctx["dispatcher"].run_safely()
        except Exception as exc:  # the database may be down; keep beating when it returns
            if not failing:
                log.warning("heartbeat failed: %s", type(exc).__name__)
            failing = True
            ctx.pop("database_ok_since", None)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.worker_heartbeat_seconds):
                await beat_now.wait()
        beat_now.clear()


# Redis away, or too slow to wait for.
SNAPSHOT_ERRORS: tuple[type[BaseException], ...] = (*REDIS_ERRORS, TimeoutError)


async def _metrics_loop(ctx: dict[str, Any], settings: Settings) -> None:
    """Renew this worker's metrics snapshot in Redis at the heartbeat's pace, for as long as
    the heartbeat lives (services/metrics.py). A loop of its own, each write bounded: a Redis
    that hangs must never hold up the heartbeat, which keeps the worker's leases."""
    published = True
    while True:
        try:
            await asyncio.wait_for(
                metrics.publish_snapshot(
                    ctx["redis"],
                    ctx["worker_id"],
                    ctx["metrics"].snapshot(),
                    settings.worker_heartbeat_ttl_seconds,
                ),
                settings.worker_heartbeat_seconds,
            )
            if not published:
                log.info("metrics snapshot published again")
            published = True
        except SNAPSHOT_ERRORS as exc:  # the series lapse until Redis is back
            if published:
                log.warning("metrics snapshot not published: %s", type(exc).__name__)
            published = False
        await asyncio.sleep(settings.worker_heartbeat_seconds)


async def _cancel_listener(ctx: dict[str, Any]) -> None:
    """Stop executions as soon as a cancel for them is published (the lease renewal catches
    any message lost while this was reconnecting)."""
    runner: Runner = ctx["runner"]
    while True:
        try:
            async with ctx["redis"].pubsub() as pubsub:
                await pubsub.subscribe(events.CANCEL_CHANNEL)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None:
                        continue
                    try:
                        ids = [
                            uuid.UUID(each) for each in json.loads(message["data"])["execution_ids"]
                        ]
                    except (ValueError, KeyError, TypeError):
                        log.warning("ignored a malformed cancel message")
                        continue
                    runner.cancel(ids)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("cancel listener: %s; reconnecting", type(exc).__name__)
            await asyncio.sleep(1.0)


def _background(ctx: dict[str, Any], name: str, coroutine: Any) -> None:
    ctx.setdefault("background", {})[name] = asyncio.create_task(coroutine)


async def _stop_background(ctx: dict[str, Any]) -> None:
    tasks: dict[str, asyncio.Task[None]] = ctx.pop("background", {})
    for task in tasks.values():
        task.cancel()
    for task in tasks.values():
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def build_worker(
    settings: Settings, *, burst: bool = False, handle_signals: bool | None = None
) -> OrcaWorker:
    settings.require("database_url", "redis_url", "encryption_keys")
    assert settings.database_url is not None and settings.redis_url is not None
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def on_startup(ctx: dict[str, Any]) -> None:
        engine = engine_from_settings(settings, "orca-worker")
        ctx["engine"] = engine
        ctx["sessionmaker"] = create_sessionmaker(engine)
        ctx["worker_id"] = worker_id
        ctx["settings"] = settings
        ctx["vault"] = Vault.from_settings(settings)
        ctx["connectors"] = Connectors.from_settings(settings)
        ctx["dispatcher"] = Dispatcher(ctx["sessionmaker"], ctx["redis"], settings)
        ctx["metrics"] = metrics.WorkerMetrics(
            ctx["connectors"], lambda: len(ctx["runner"].running), settings.worker_max_jobs
        )
        ctx["runner"] = Runner(
            ctx["dispatcher"],
            ctx["vault"],
            ctx["connectors"],
            settings,
            worker_id,
            ctx["metrics"],
        )
        ctx["beat_now"] = asyncio.Event()
        _background(ctx, "cancel", _cancel_listener(ctx))
        _background(ctx, "heartbeat", _heartbeat_loop(ctx, settings))
        _background(ctx, "metrics", _metrics_loop(ctx, settings))
        _background(ctx, "memory", memory.collect_periodically())
        log.info("worker %s started", worker_id)

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        await _stop_background(ctx)
        if "metrics" in ctx:
            try:
                await asyncio.wait_for(metrics.withdraw_snapshot(ctx["redis"], worker_id), 2.0)
            except SNAPSHOT_ERRORS:  # the key expires by itself
                pass
        if "connectors" in ctx:
            await ctx["connectors"].close()
        if "sessionmaker" in ctx:
            try:
                async with ctx["sessionmaker"]() as session:
                    await workers_repo.remove(session, worker_id)
                    await session.commit()
            except Exception as exc:  # a dead database must not block shutdown
                log.warning("could not remove heartbeat: %s", type(exc).__name__)
            await ctx["engine"].dispose()
        log.info("worker %s stopped", worker_id)

    crons = [
        cron(reconcile, second={0, 15, 30, 45}, unique=True, timeout=600, run_at_startup=False),
        # Every worker ticks; the database lets each due time launch once (services/schedules.py).
        # At startup too, so due times missed while no worker ran are dealt with at once.
        cron(
            dispatch_schedules,
            second=set(range(0, 60, settings.schedule_tick_seconds)),
            unique=True,
            timeout=300,
            run_at_startup=True,
        ),
    ]
    if settings.retention_output_days or settings.retention_jobs_days:
        crons.append(cron(enforce_retention, minute=17, second=0, unique=True, timeout=3600))
    if settings.health_check_seconds:
        # Every minute; each sweep takes the systems whose last check is older than the interval.
        crons.append(cron(check_systems, second=0, run_at_startup=False, unique=True, timeout=600))
    signals = not burst if handle_signals is None else handle_signals
    worker = OrcaWorker(
        functions=[ping, run_execution, dispatch],
        cron_jobs=crons,
        queue_name=QUEUE_NAME,
        redis_settings=arq_redis_settings(settings.redis_url.get_secret_value()),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        max_jobs=settings.worker_max_jobs + UPKEEP_SLOTS,
        poll_delay=settings.worker_poll_delay_seconds,
        burst=burst,
        handle_signals=signals,
        job_completion_wait=settings.worker_shutdown_grace_seconds if signals else 0,
        keep_result=60,
        job_timeout=TASK_TIMEOUT,
    )
    return worker
