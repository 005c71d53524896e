"""A real `orca worker` process: heartbeat, takes work from the queue, clean shutdown; takes
none while cut off from PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import subprocess

from arq import create_pool
from arq.jobs import JobStatus
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.core.embedded import free_port
from app.core.redis import arq_redis_settings
from app.models import WorkerHeartbeat
from app.worker.settings import QUEUE_NAME
from tests.fixtures.processes import ORCA, Processes
from tests.fixtures.proxy import FaultyProxy


async def _heartbeats(url: str) -> list[WorkerHeartbeat]:
    engine = create_async_engine(url)
    try:
        async with AsyncSession(engine) as session:
            return list((await session.execute(select(WorkerHeartbeat))).scalars())
    finally:
        await engine.dispose()


async def _wait(predicate, seconds: float, what: str):  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.1)):
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_worker_beats_runs_jobs_and_leaves_cleanly(
    processes: Processes, orca_env: dict[str, str], redis: object
) -> None:
    url = orca_env["ORCA_DATABASE_URL"]
    proc = processes.start(["worker"], orca_env, "worker")

    beats = await _wait(lambda: _heartbeats(url), 30, "a heartbeat")
    (beat,) = beats
    assert beat.pid == proc.pid
    first_seen = beat.last_seen_at
    # It keeps beating (every 0.5 s here).
    await _wait(lambda: _newer(url, first_seen), 10, "a later heartbeat")

    pool = await create_pool(
        arq_redis_settings(orca_env["ORCA_REDIS_URL"]), default_queue_name=QUEUE_NAME
    )
    try:
        job = await pool.enqueue_job("ping")
        assert job is not None
        result = await job.result(timeout=20)
        assert result["pid"] == proc.pid
        assert result["worker_id"] == beat.worker_id
    finally:
        await pool.aclose()

    # The container health check sees it beating, on this host.
    check = await asyncio.to_thread(
        subprocess.run, [*ORCA, "healthcheck", "worker"], env=orca_env, capture_output=True
    )
    assert check.returncode == 0, check.stderr
    assert b"worker: 1 beating on" in check.stdout

    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 30) == 0
    assert await _heartbeats(url) == []
    check = await asyncio.to_thread(
        subprocess.run, [*ORCA, "healthcheck", "worker"], env=orca_env, capture_output=True
    )
    assert check.returncode == 1 and b"has beaten lately" in check.stderr
    down = await asyncio.to_thread(
        subprocess.run,
        [*ORCA, "healthcheck", "api"],
        env={**orca_env, "ORCA_API_PORT": str(free_port())},
        capture_output=True,
    )
    assert down.returncode == 1 and b"does not answer" in down.stderr


async def _newer(url: str, than: object) -> bool:
    return any(b.last_seen_at > than for b in await _heartbeats(url))  # type: ignore[operator]


async def test_a_worker_cut_off_from_postgres_takes_no_new_work(
    processes: Processes, orca_env: dict[str, str], redis: object
) -> None:
    """Work it took, it could not claim; it would hold the tasks from the workers that can.
    Here the task needs no database at all (ping), so only the pause can keep it waiting."""
    url = orca_env["ORCA_DATABASE_URL"]
    direct = make_url(url)
    proxy = FaultyProxy(direct.port or 5432)
    proxied = direct.set(port=proxy.port).render_as_string(hide_password=False)
    proc = processes.start(["worker"], {**orca_env, "ORCA_DATABASE_URL": proxied}, "worker")
    pool = await create_pool(
        arq_redis_settings(orca_env["ORCA_REDIS_URL"]), default_queue_name=QUEUE_NAME
    )
    try:
        await _wait(lambda: _heartbeats(url), 30, "a heartbeat")
        first = await pool.enqueue_job("ping")
        assert first is not None
        assert (await first.result(timeout=20))["pid"] == proc.pid
        proxy.freeze()
        await asyncio.sleep(3.5)  # past max(TTL / 2, 2 heartbeats) = 2.5 s without a beat
        job = await pool.enqueue_job("ping")
        assert job is not None
        await asyncio.sleep(3)
        assert await job.status() == JobStatus.queued
        proxy.thaw()
        assert (await job.result(timeout=30))["pid"] == proc.pid
    finally:
        await pool.aclose()
        proxy.close()
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 30) == 0
