"""The arq worker: its context (database, Redis), its heartbeat, and the functions it runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from typing import Any

from arq import cron
from arq.worker import Worker

from app import __version__
from app.connectors.registry import Connectors
from app.core.config import Settings
from app.core.db import create_sessionmaker, engine_from_settings
from app.core.redis import arq_redis_settings
from app.core.vault import Vault
from app.repositories import workers as workers_repo
from app.services import connectivity

log = logging.getLogger("orca.worker")

QUEUE_NAME = "orca:queue"


async def ping(ctx: dict[str, Any]) -> dict[str, Any]:
    """A no-op job: proves a worker takes work from the queue (used by tests and diagnostics)."""
    return {"worker_id": ctx["worker_id"], "pid": os.getpid()}


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


async def _heartbeat_loop(ctx: dict[str, Any], settings: Settings, worker: Worker) -> None:
    sessionmaker = ctx["sessionmaker"]
    failing = False
    while True:
        try:
            async with sessionmaker() as session:
                await workers_repo.beat(
                    session,
                    worker_id=ctx["worker_id"],
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    version=__version__,
                    max_jobs=settings.worker_max_jobs,
                    running_jobs=sum(not task.done() for task in worker.job_tasks.values()),
                )
                await session.commit()
            if failing:
                log.info("heartbeat recorded again")
            failing = False
        except Exception as exc:  # the database may be down; keep beating when it returns
            if not failing:
                log.warning("heartbeat failed: %s", type(exc).__name__)
            failing = True
        await asyncio.sleep(settings.worker_heartbeat_seconds)


def build_worker(settings: Settings, *, burst: bool = False) -> Worker:
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
        ctx["heartbeat"] = asyncio.create_task(_heartbeat_loop(ctx, settings, worker))
        log.info("worker %s started", worker_id)

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        heartbeat: asyncio.Task[None] | None = ctx.get("heartbeat")
        if heartbeat is not None:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
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

    # Every minute; each sweep takes the systems whose last check is older than the interval.
    crons = (
        [cron(check_systems, second=0, run_at_startup=False, unique=True, timeout=600)]
        if settings.health_check_seconds
        else []
    )
    worker = Worker(
        functions=[ping],
        cron_jobs=crons,
        queue_name=QUEUE_NAME,
        redis_settings=arq_redis_settings(settings.redis_url.get_secret_value()),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        max_jobs=settings.worker_max_jobs,
        burst=burst,
        handle_signals=not burst,
        keep_result=60,
        job_timeout=24 * 3600,
    )
    return worker
