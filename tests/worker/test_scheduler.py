"""The scheduler in real `orca worker` processes: several ticking at once launch a due time
once, and workers killed and started again neither lose a due time nor launch one twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app.models import Job, Schedule, ScheduleRun
from app.services.schedules import Cron
from tests.fixtures.engine import Engine, process_env, wait_for
from tests.fixtures.processes import Processes

pytestmark = pytest.mark.slow


async def _hourly_schedule(orca: Engine, minutes_ago: int, **extra: Any) -> dict[str, Any]:
    """A schedule due every hour at the minute `minutes_ago` minutes before now (UTC)."""
    minute = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).minute
    template = await orca.post(
        "/api/v1/templates",
        {
            "name": f"t-{uuid.uuid4().hex[:6]}",
            "command": "echo scheduled",
            "targets": {"systems": ["here"]},
        },
    )
    return dict(
        await orca.post(
            "/api/v1/schedules",
            {
                "name": f"s-{uuid.uuid4().hex[:6]}",
                "template": template["id"],
                "cron": f"{minute} * * * *",
                "skip_if_running": False,
                **extra,
            },
        )
    )


def _latest_due(schedule: dict[str, Any]) -> datetime:
    """The schedule's most recent due time at or before now."""
    cron = Cron.parse(schedule["cron"], "UTC")
    return cron.next_after(datetime.now(UTC) - timedelta(hours=1))


async def _set_next_run(orca: Engine, schedule: dict[str, Any], moment: datetime) -> None:
    async with orca.live.session() as session:
        await session.execute(
            update(Schedule)
            .where(Schedule.id == uuid.UUID(schedule["id"]))
            .values(next_run_at=moment)
        )
        await session.commit()


async def _runs(orca: Engine, schedule: dict[str, Any]) -> list[tuple[datetime, str]]:
    async with orca.live.session() as session:
        result = await session.execute(
            select(ScheduleRun.due_at, ScheduleRun.status)
            .where(ScheduleRun.schedule_id == uuid.UUID(schedule["id"]))
            .order_by(ScheduleRun.due_at)
        )
        return [(row[0], row[1].value) for row in result.all()]


async def _jobs(orca: Engine, schedule: dict[str, Any]) -> int:
    async with orca.live.session() as session:
        count = await session.scalar(
            select(func.count()).where(Job.schedule_id == uuid.UUID(schedule["id"]))
        )
    return int(count or 0)


async def _next_run(orca: Engine, schedule: dict[str, Any]) -> datetime | None:
    async with orca.live.session() as session:
        return await session.scalar(
            select(Schedule.next_run_at).where(Schedule.id == uuid.UUID(schedule["id"]))
        )


def _kill(worker: subprocess.Popen[bytes]) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)


async def test_workers_ticking_together_and_restarted_dispatch_each_due_time_once(
    idle_orca: Engine, processes: Processes, tmp_path: Path
) -> None:
    orca = idle_orca
    await orca.local_system("here")
    env = process_env(orca.settings, str(tmp_path / "home"), ORCA_SCHEDULE_TICK_SECONDS="1")

    # Three workers tick every second; a due time two minutes old (within the grace) launches
    # once, whichever of them gets it.
    together = await _hourly_schedule(orca, 2, grace_seconds=3600)
    due = _latest_due(together)
    await _set_next_run(orca, together, due)
    workers = [processes.start(["worker"], env, f"worker-{n}") for n in range(3)]

    async def launched() -> bool:
        return (due, "launched") in await _runs(orca, together)

    await wait_for(launched, 60, "the due time to be launched")
    await asyncio.sleep(4)  # a dozen more ticks across the three workers
    assert await _runs(orca, together) == [(due, "launched")]
    assert await _jobs(orca, together) == 1
    assert await _next_run(orca, together) == due + timedelta(hours=1)

    # Every worker dies. Meanwhile a schedule falls three due times behind, the latest of them
    # five minutes ago, beyond its one-minute grace: on restart, the missed-run policy
    # (run_once) runs the latest once and records the two before it as missed.
    for worker in workers:
        await asyncio.to_thread(_kill, worker)
    behind = await _hourly_schedule(orca, 5, grace_seconds=60, missed_policy="run_once")
    latest = _latest_due(behind)
    await _set_next_run(orca, behind, latest - timedelta(hours=2))
    restarted = processes.start(["worker"], env, "restarted")

    async def caught_up() -> bool:
        return (latest, "launched") in await _runs(orca, behind)

    await wait_for(caught_up, 60, "the restarted worker to catch up")
    await asyncio.sleep(3)
    expected = [
        (latest - timedelta(hours=2), "missed"),
        (latest - timedelta(hours=1), "missed"),
        (latest, "launched"),
    ]
    assert await _runs(orca, behind) == expected
    assert await _jobs(orca, behind) == 1

    # Killed again right after, and started again: nothing is launched a second time.
    await asyncio.to_thread(_kill, restarted)
    beats_before = len(await orca.heartbeats())  # the killed ones' rows stay until they lapse
    processes.start(["worker"], env, "again")

    async def beating() -> bool:
        return len(await orca.heartbeats()) > beats_before

    await wait_for(beating, 30, "the new worker's heartbeat")
    await asyncio.sleep(4)
    assert await _runs(orca, behind) == expected
    assert await _runs(orca, together) == [(due, "launched")]
    assert await _jobs(orca, behind) == 1 and await _jobs(orca, together) == 1
    # And the launched jobs ran, on the workers.
    async with orca.live.session() as session:
        launched_jobs = list(
            (
                await session.execute(
                    select(Job.id).where(
                        Job.schedule_id.in_([uuid.UUID(together["id"]), uuid.UUID(behind["id"])])
                    )
                )
            ).scalars()
        )
    for job_id in launched_jobs:
        assert (await orca.finished(str(job_id), 30))["status"] == "succeeded"
