"""The functions workers run from the arq queue. Each is thin: the services do the work."""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import Any

from app.core.config import Settings
from app.core.db import UNAVAILABLE
from app.services import connectivity, retention, schedules
from app.services.dispatch import Dispatcher
from app.services.reconcile import reconcile as reconcile_service
from app.services.runner import Runner

log = logging.getLogger("orca.worker")


async def ping(ctx: dict[str, Any]) -> dict[str, Any]:
    """A no-op job: proves a worker takes work from the queue (used by tests and diagnostics)."""
    return {"worker_id": ctx["worker_id"], "pid": os.getpid()}


async def run_execution(ctx: dict[str, Any], execution_id: str, attempt: int) -> str:
    """Claim one execution and run it to its end (a no-op if it is no longer queued)."""
    runner: Runner = ctx["runner"]
    return await runner.run(uuid.UUID(execution_id), attempt)


async def dispatch(ctx: dict[str, Any]) -> int:
    """A dispatch pass (enqueued when a retry's backoff ends)."""
    dispatcher: Dispatcher = ctx["dispatcher"]
    return await dispatcher.run()


async def reconcile(ctx: dict[str, Any]) -> dict[str, int]:
    """The reconciler's tick (an arq cron: one worker runs each)."""
    settings: Settings = ctx["settings"]
    # Leases are judged only by a worker that has reached PostgreSQL for a whole TTL: one just
    # back from an outage would call lost what the others have had no chance to renew.
    connected_since: float | None = ctx.get("database_ok_since")
    judge_leases = (
        connected_since is not None
        and time.monotonic() - connected_since >= settings.worker_heartbeat_ttl_seconds
    )
    if not judge_leases:
        log.info("reconciler: leases not judged (PostgreSQL reached for less than a TTL)")
    try:
        result = await reconcile_service(ctx["dispatcher"], judge_leases=judge_leases)
    except UNAVAILABLE as exc:  # the next tick tries again
        log.warning("reconciler tick skipped: %s", type(exc).__name__)
        return {}
    return {
        "lost": result.lost,
        "requeued": result.requeued,
        "finished_jobs": result.finished_jobs,
        "dispatched": result.dispatched,
    }


async def check_systems(ctx: dict[str, Any]) -> dict[str, int]:
    """The periodic health sweep (an arq cron: one worker runs each tick)."""
    settings: Settings = ctx["settings"]
    sweep = await connectivity.check_due_systems(
        ctx["sessionmaker"],
        ctx["vault"],
        ctx["connectors"],
        ctx["redis"],
        interval_seconds=settings.health_check_seconds,
        concurrency=settings.health_check_concurrency,
    )
    if sweep.checked:
        log.info("health sweep: %d checked, %d changed", sweep.checked, sweep.changed)
    return {"checked": sweep.checked, "changed": sweep.changed}


async def dispatch_schedules(ctx: dict[str, Any]) -> dict[str, int]:
    """The scheduler's tick (an arq cron on every worker; the database makes each due time
    launch once, whichever worker gets there)."""
    try:
        tick = await schedules.dispatch_due(ctx["sessionmaker"], ctx["dispatcher"], ctx["vault"])
    except UNAVAILABLE as exc:  # the next tick tries again; nothing was half done
        log.warning("scheduler tick skipped: %s", type(exc).__name__)
        return {}
    if tick.launched or tick.missed or tick.failed or tick.skipped:
        log.info(
            "scheduler: %d launched, %d missed, %d skipped, %d failed",
            tick.launched,
            tick.missed,
            tick.skipped,
            tick.failed,
        )
    return {
        "launched": tick.launched,
        "missed": tick.missed,
        "skipped": tick.skipped,
        "failed": tick.failed,
    }


async def enforce_retention(ctx: dict[str, Any]) -> dict[str, int]:
    """The hourly retention run (an arq cron: one worker runs each)."""
    policy = retention.Policy.from_settings(ctx["settings"])
    try:
        report = await retention.enforce(ctx["sessionmaker"], policy)
    except UNAVAILABLE as exc:  # every batch committed stays; the next run goes on
        log.warning("retention run stopped: %s", type(exc).__name__)
        return {}
    return {
        "executions_output_removed": report.executions_output_removed,
        "jobs_removed": report.jobs_removed,
        "executions_removed": report.executions_removed,
    }
