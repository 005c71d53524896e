"""Jobs end to end through the API, on the local connector, with a real worker."""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import func, select

from app.models import AuditEvent
from tests.fixtures.engine import JOBS, Engine, wait_for


async def test_a_job_runs_and_reports_its_output(engine: Engine) -> None:
    system = await engine.local_system("here")
    job = await engine.submit(
        {"command": "echo hello; echo oops >&2; exit 0", "targets": {"systems": ["here"]}}
    )
    assert job["name"] == "echo hello; echo oops >&2; exit 0"
    assert job["target_count"] == 1
    done = await engine.finished(job["id"])
    assert done["status"] == "succeeded", done
    assert done["counts"]["succeeded"] == 1
    (execution,) = await engine.executions(job["id"])
    assert execution["system_id"] == system["id"]
    assert execution["status"] == "succeeded" and execution["exit_code"] == 0
    assert execution["waiting"] is None and execution["error"] is None
    assert await engine.output(execution["id"], "stdout") == "hello\n"
    assert await engine.output(execution["id"], "stderr") == "oops\n"
    async with engine.live.session() as session:
        actions = list(
            (
                await session.execute(
                    select(AuditEvent.action)
                    .where(
                        AuditEvent.action.in_(
                            ["job.create", "execution.start", "execution.finish", "job.finish"]
                        )
                    )
                    .order_by(AuditEvent.seq)
                )
            ).scalars()
        )
    assert actions == ["job.create", "execution.start", "execution.finish", "job.finish"]


async def test_exit_codes_and_timeouts_end_in_their_own_states(engine: Engine) -> None:
    await engine.local_system("a")
    failing = await engine.submit({"command": "exit 3", "targets": {"systems": ["a"]}})
    slow = await engine.submit(
        {"command": "sleep 30", "timeout_seconds": 1, "targets": {"systems": ["a"]}}
    )
    assert (await engine.finished(failing["id"]))["status"] == "failed"
    (failed,) = await engine.executions(failing["id"])
    assert failed["status"] == "failed" and failed["exit_code"] == 3 and failed["error"] is None
    assert (await engine.finished(slow["id"]))["status"] == "failed"
    (timed_out,) = await engine.executions(slow["id"])
    assert timed_out["status"] == "timed_out"
    assert timed_out["exit_code"] is None and timed_out["error"]["code"] == "timeout"
    assert 900 <= timed_out["duration_ms"] < 15000


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone in all but name.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


async def test_cancelling_a_running_execution_stops_its_process(engine: Engine) -> None:
    await engine.local_system("a")
    job = await engine.submit(
        {"command": "sleep 300 & echo $!; wait", "targets": {"systems": ["a"]}}
    )
    running = await engine.execution_where(
        job["id"], lambda e: e["status"] == "running" and e["output"]["seq"] > 0
    )
    pid = int((await engine.output(running["id"])).split()[0])
    assert _alive(pid)
    cancelled = await engine.post(f"{JOBS}/{job['id']}/cancel")
    assert cancelled["cancel_requested_at"] is not None
    done = await engine.finished(job["id"], 30)
    assert done["status"] == "cancelled"
    (execution,) = await engine.executions(job["id"])
    assert execution["status"] == "cancelled" and execution["error"]["code"] == "cancelled"
    # The command's whole process group went, the background sleep included.
    await wait_for(lambda: _async(not _alive(pid)), 10, "the sleep to be gone")
    again = await engine.client.post(f"{JOBS}/{job['id']}/cancel", headers=engine.admin.headers)
    assert again.status_code == 409 and "already finished" in again.json()["error"]["message"]


async def _async(value: bool) -> bool:
    return value


async def test_cancelling_before_any_worker_runs_it_is_immediate(idle_engine: Engine) -> None:
    engine = idle_engine
    await engine.local_system("a")
    job = await engine.submit({"command": "touch /tmp/never", "targets": {"systems": ["a"]}})
    (execution,) = await engine.executions(job["id"])
    assert execution["status"] == "pending"
    assert execution["waiting"]["code"] == "no_worker", execution["waiting"]
    response = await engine.client.post(
        f"/api/v1/executions/{execution['id']}/cancel", headers=engine.admin.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert (await engine.job(job["id"]))["status"] == "cancelled"
    await engine.start_worker()
    await asyncio.sleep(1)
    async with engine.live.session() as session:
        started = await session.scalar(
            select(func.count()).where(AuditEvent.action == "execution.start")
        )
    assert started == 0


async def test_waiting_executions_say_why(engine: Engine) -> None:
    names = ["w1", "w2", "w3"]
    for name in names:
        await engine.local_system(name)
    await engine.local_system("narrow", max_concurrency=1)
    job = await engine.submit(
        {"command": "sleep 3", "concurrency": 1, "targets": {"systems": names}}
    )
    first = await engine.execution_where(job["id"], lambda e: e["status"] == "running")
    rows = await engine.executions(job["id"])
    waiting = [row for row in rows if row["id"] != first["id"]]
    assert [row["status"] for row in waiting] == ["pending", "pending"]
    assert {row["waiting"]["code"] for row in waiting} == {"job_concurrency"}
    assert "1 of at most 1" in waiting[0]["waiting"]["message"]

    hog = await engine.submit({"command": "sleep 3", "targets": {"systems": ["narrow"]}})
    await engine.execution_where(hog["id"], lambda e: e["status"] == "running")
    blocked = await engine.submit({"command": "true", "targets": {"systems": ["narrow"]}})
    (row,) = await engine.executions(blocked["id"])
    assert row["status"] == "pending" and row["waiting"]["code"] == "system_concurrency"
    await engine.post(f"{JOBS}/{job['id']}/cancel")
    await engine.post(f"{JOBS}/{hog['id']}/cancel")
    assert (await engine.finished(blocked["id"]))["status"] == "succeeded"
