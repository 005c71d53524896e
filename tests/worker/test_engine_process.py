"""Real `orca worker` processes under the engine: SIGTERM drains, SIGKILL loses (honestly)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import AuditEvent
from app.services.reconcile import reconcile
from tests.fixtures.engine import Engine, process_env, wait_for
from tests.fixtures.processes import Processes, process_alive

pytestmark = pytest.mark.slow


async def _beating(orca: Engine, count: int) -> None:
    async def enough() -> bool:
        return len(await orca.heartbeats()) >= count

    await wait_for(enough, 30, "worker heartbeats")


async def _pid_of(orca: Engine, job_id: str) -> int:
    running = await orca.execution_where(
        job_id, lambda e: e["status"] == "running" and e["output"]["seq"] > 0
    )
    return int((await orca.output(running["id"])).split()[0])


async def test_sigterm_finishes_what_it_can_then_stops_the_rest(
    idle_orca: Engine, processes: Processes, tmp_path: Path
) -> None:
    orca = idle_orca
    env = process_env(orca.settings, str(tmp_path / "home"), ORCA_WORKER_SHUTDOWN_GRACE_SECONDS="4")
    worker = processes.start(["worker"], env, "worker")
    await _beating(orca, 1)
    await orca.local_system("a")
    await orca.local_system("b")
    quick = await orca.submit({"command": "sleep 1.5; echo done", "targets": {"systems": ["a"]}})
    stuck = await orca.submit(
        {"command": "sleep 300 & echo $!; wait", "targets": {"systems": ["b"]}}
    )
    pid = await _pid_of(orca, stuck["id"])
    await orca.execution_where(quick["id"], lambda e: e["status"] == "running")
    worker.send_signal(signal.SIGTERM)

    async def draining() -> bool:
        return any(beat.draining for beat in await orca.heartbeats())

    await wait_for(draining, 10, "the worker to say it is draining")
    late = await orca.submit({"command": "true", "targets": {"systems": ["a"]}})
    (waiting,) = await orca.executions(late["id"])
    assert waiting["status"] == "pending" and waiting["waiting"]["code"] == "no_worker"

    assert (await orca.finished(quick["id"], 30))["status"] == "succeeded"
    assert (await orca.finished(stuck["id"], 30))["status"] == "cancelled"
    (stopped,) = await orca.executions(stuck["id"])
    assert stopped["error"]["code"] == "worker_shutdown"
    assert await asyncio.to_thread(worker.wait, 30) == 0
    assert not process_alive(pid)
    assert await orca.heartbeats() == []
    (still,) = await orca.executions(late["id"])
    assert still["status"] == "pending"


async def test_a_killed_worker_loses_its_executions_and_nothing_runs_twice(
    idle_orca: Engine, processes: Processes, tmp_path: Path
) -> None:
    orca = idle_orca
    env = process_env(orca.settings, str(tmp_path / "home"))
    worker = processes.start(["worker"], env, "doomed")
    await _beating(orca, 1)
    await orca.local_system("a")
    job = await orca.submit({"command": "sleep 300 & echo $!; wait", "targets": {"systems": ["a"]}})
    pid = await _pid_of(orca, job["id"])
    os.killpg(worker.pid, signal.SIGKILL)
    await asyncio.to_thread(worker.wait, 10)
    try:
        dispatcher = orca.live.app.state.dispatcher

        async def lost() -> bool:
            return (await reconcile(dispatcher)).lost == 1

        await wait_for(lost, 30, "the lease to lapse and the reconciler to act")
        assert (await orca.finished(job["id"], 10))["status"] == "failed"
        (row,) = await orca.executions(job["id"])
        assert row["status"] == "error" and row["error"]["code"] == "worker_lost"
        processes.start(["worker"], env, "successor")
        await _beating(orca, 2)
        await asyncio.sleep(2)
        async with orca.live.session() as session:
            starts = await session.scalar(
                select(func.count()).where(AuditEvent.action == "execution.start")
            )
        assert starts == 1
    finally:
        if process_alive(pid):  # the orphan a SIGKILLed worker leaves on its host
            os.kill(pid, signal.SIGKILL)
