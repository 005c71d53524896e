"""The functions workers run from the arq queue. Each is thin: the services do the work."""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

from app.core.config import Settings
from app.services import connectivity
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
    result = await reconcile_service(ctx["dispatcher"])
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
