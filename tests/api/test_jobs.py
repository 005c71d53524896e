"""Jobs end to end through the API, on the local connector, with a real worker."""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import func, select

from app.models import AuditEvent
from tests.fixtures.engine import JOBS, Engine, wait_for
from tests.fixtures.processes import process_alive


async def test_a_job_runs_and_reports_its_output(orca: Engine) -> None:
    system = await orca.local_system("here")
    job = await orca.submit(
        {"command": "echo hello; echo oops >&2; exit 0", "targets": {"systems": ["here"]}}
    )
    assert job["name"] == "echo hello; echo oops >&2; exit 0"
    assert job["target_count"] == 1
    done = await orca.finished(job["id"])
    assert done["status"] == "succeeded", done
    assert done["counts"]["succeeded"] == 1
    (execution,) = await orca.executions(job["id"])
    assert execution["system_id"] == system["id"]
    assert execution["status"] == "succeeded" and execution["exit_code"] == 0
    assert execution["waiting"] is None and execution["error"] is None
    assert await orca.output(execution["id"], "stdout") == "hello\n"
    assert await orca.output(execution["id"], "stderr") == "oops\n"
    async with orca.live.session() as session:
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


async def test_exit_codes_and_timeouts_end_in_their_own_states(orca: Engine) -> None:
    await orca.local_system("a")
    failing = await orca.submit({"command": "exit 3", "targets": {"systems": ["a"]}})
    slow = await orca.submit(
        {"command": "sleep 30", "timeout_seconds": 1, "targets": {"systems": ["a"]}}
    )
    assert (await orca.finished(failing["id"]))["status"] == "failed"
    (failed,) = await orca.executions(failing["id"])
    assert failed["status"] == "failed" and failed["exit_code"] == 3 and failed["error"] is None
    assert (await orca.finished(slow["id"]))["status"] == "failed"
    (timed_out,) = await orca.executions(slow["id"])
    assert timed_out["status"] == "timed_out"
    assert timed_out["exit_code"] is None and timed_out["error"]["code"] == "timeout"
    assert 900 <= timed_out["duration_ms"] < 15000


async def test_cancelling_a_running_execution_stops_its_process(orca: Engine) -> None:
    await orca.local_system("a")
    job = await orca.submit({"command": "sleep 300 & echo $!; wait", "targets": {"systems": ["a"]}})
    running = await orca.execution_where(
        job["id"], lambda e: e["status"] == "running" and e["output"]["seq"] > 0
    )
    pid = int((await orca.output(running["id"])).split()[0])
    assert process_alive(pid)
    cancelled = await orca.post(f"{JOBS}/{job['id']}/cancel")
    assert cancelled["cancel_requested_at"] is not None
    done = await orca.finished(job["id"], 30)
    assert done["status"] == "cancelled"
    (execution,) = await orca.executions(job["id"])
    assert execution["status"] == "cancelled" and execution["error"]["code"] == "cancelled"

    # The command's whole process group went, the background sleep included.
    async def gone() -> bool:
        return not process_alive(pid)

    await wait_for(gone, 10, "the sleep to be gone")
    again = await orca.client.post(f"{JOBS}/{job['id']}/cancel", headers=orca.admin.headers)
    assert again.status_code == 409 and "already finished" in again.json()["error"]["message"]


async def test_cancelling_before_any_worker_runs_it_is_immediate(idle_orca: Engine) -> None:
    orca = idle_orca
    await orca.local_system("a")
    job = await orca.submit({"command": "touch /tmp/never", "targets": {"systems": ["a"]}})
    (execution,) = await orca.executions(job["id"])
    assert execution["status"] == "pending"
    assert execution["waiting"]["code"] == "no_worker", execution["waiting"]
    response = await orca.client.post(
        f"/api/v1/executions/{execution['id']}/cancel", headers=orca.admin.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert (await orca.job(job["id"]))["status"] == "cancelled"
    await orca.start_worker()
    await asyncio.sleep(1)
    async with orca.live.session() as session:
        started = await session.scalar(
            select(func.count()).where(AuditEvent.action == "execution.start")
        )
    assert started == 0


async def test_waiting_executions_say_why(orca: Engine) -> None:
    names = ["w1", "w2", "w3"]
    for name in names:
        await orca.local_system(name)
    await orca.local_system("narrow", max_concurrency=1)
    job = await orca.submit({"command": "sleep 3", "concurrency": 1, "targets": {"systems": names}})
    first = await orca.execution_where(job["id"], lambda e: e["status"] == "running")
    rows = await orca.executions(job["id"])
    waiting = [row for row in rows if row["id"] != first["id"]]
    assert [row["status"] for row in waiting] == ["pending", "pending"]
    assert {row["waiting"]["code"] for row in waiting} == {"job_concurrency"}
    assert "1 of at most 1" in waiting[0]["waiting"]["message"]

    hog = await orca.submit({"command": "sleep 3", "targets": {"systems": ["narrow"]}})
    await orca.execution_where(hog["id"], lambda e: e["status"] == "running")
    blocked = await orca.submit({"command": "true", "targets": {"systems": ["narrow"]}})
    (row,) = await orca.executions(blocked["id"])
    assert row["status"] == "pending" and row["waiting"]["code"] == "system_concurrency"
    await orca.post(f"{JOBS}/{job['id']}/cancel")
    await orca.post(f"{JOBS}/{hog['id']}/cancel")
    assert (await orca.finished(blocked["id"]))["status"] == "succeeded"


async def test_priority_decides_who_gets_the_next_free_slot(idle_orca: Engine) -> None:
    orca = idle_orca
    for name in ("busy", "low", "high"):
        await orca.local_system(name)
    await orca.start_worker(worker_max_jobs=1)
    blocker = await orca.submit({"command": "sleep 1.5", "targets": {"systems": ["busy"]}})
    await orca.execution_where(blocker["id"], lambda e: e["status"] == "running")
    low = await orca.submit({"command": "true", "priority": 1, "targets": {"systems": ["low"]}})
    high = await orca.submit({"command": "true", "priority": 9, "targets": {"systems": ["high"]}})
    (waiting,) = await orca.executions(low["id"])
    assert waiting["waiting"]["code"] == "worker", waiting["waiting"]
    low_done, high_done = await orca.finished(low["id"]), await orca.finished(high["id"])
    assert high_done["started_at"] < low_done["started_at"]


async def test_failure_threshold_stops_starting_systems(orca: Engine) -> None:
    names = [f"t{n}" for n in range(5)]
    for name in names:
        await orca.local_system(name)
    job = await orca.submit(
        {
            "command": "exit 1",
            "concurrency": 1,
            "failure_threshold": {"count": 2},
            "targets": {"systems": names},
        }
    )
    done = await orca.finished(job["id"])
    assert done["status"] == "failed" and done["threshold_reached_at"] is not None
    rows = await orca.executions(job["id"])
    assert [row["status"] for row in rows] == ["failed", "failed"] + ["cancelled"] * 3
    assert {row["error"]["code"] for row in rows[2:]} == {"failure_threshold"}
    assert "2 failure(s)" in rows[2]["error"]["message"]


async def test_rerun_failed_only_and_duplicate_with_overrides(orca: Engine) -> None:
    for name in ("ok", "bad"):
        await orca.local_system(name)
    job = await orca.submit(
        {
            "script": '#!/bin/sh\n[ "$(hostname)" ] && [ "$FLAVOUR" = sour ] && exit 1\ntrue\n',
            "environment": {"FLAVOUR": "sweet"},
            "targets": {"systems": ["ok", "bad"]},
        }
    )
    assert job["name"] == '[ "$(hostname)" ] && [ "$FLAVOUR" = sour ] && exit 1'
    assert job["environment_keys"] == ["FLAVOUR"] and "sweet" not in str(job)
    assert (await orca.finished(job["id"]))["status"] == "succeeded"
    nothing = await orca.client.post(
        f"{JOBS}/{job['id']}/rerun", json={"only": "failed"}, headers=orca.admin.headers
    )
    assert nothing.status_code == 400 and "only" in nothing.json()["error"]["message"]

    failing = await orca.submit({"command": "exit 4", "targets": {"systems": ["ok", "bad"]}})
    await orca.finished(failing["id"])
    rerun = await orca.post(f"{JOBS}/{failing['id']}/rerun", {"only": "all"})
    assert rerun["source_job_id"] == failing["id"] and rerun["target_count"] == 2
    assert rerun["command"] == "exit 4"

    duplicate = await orca.post(
        f"{JOBS}/{job['id']}/duplicate",
        {"timeout_seconds": 42, "targets": {"systems": ["bad"]}},
    )
    assert duplicate["timeout_seconds"] == 42 and duplicate["target_count"] == 1
    assert duplicate["environment_keys"] == ["FLAVOUR"]
    assert (await orca.finished(duplicate["id"]))["status"] == "succeeded"

    # Null is not "keep": refused and named (it once reached the database as a 500).
    for field in ("name", "targets", "timeout_seconds", "priority"):
        refused = await orca.client.post(
            f"{JOBS}/{job['id']}/duplicate", json={field: None}, headers=orca.admin.headers
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["details"][0]["field"] == field
    unlimited = await orca.post(f"{JOBS}/{job['id']}/duplicate", {"concurrency": None})
    assert unlimited["concurrency"] is None


async def test_the_environment_reaches_the_command_and_stays_out_of_responses(
    orca: Engine,
) -> None:
    await orca.local_system("a")
    job = await orca.submit(
        {
            "command": 'printf "%s" "$API_TOKEN"',
            "environment": {"API_TOKEN": "s3cr3t-value"},
            "targets": {"systems": ["a"]},
        }
    )
    await orca.finished(job["id"])
    (execution,) = await orca.executions(job["id"])
    assert await orca.output(execution["id"]) == "s3cr3t-value"
    listed = await orca.client.get(JOBS, headers=orca.admin.headers)
    assert "s3cr3t-value" not in listed.text
    async with orca.live.session() as session:
        rows = (await session.execute(select(AuditEvent.details))).scalars().all()
    assert "s3cr3t-value" not in str(rows)


async def test_a_working_directory_is_kept_with_the_job_and_used(orca: Engine) -> None:
    await orca.local_system("a")
    job = await orca.submit(
        {"command": "pwd", "working_directory": "/", "targets": {"systems": ["a"]}}
    )
    assert job["working_directory"] == "/"
    await orca.finished(job["id"])
    (execution,) = await orca.executions(job["id"])
    assert await orca.output(execution["id"]) == "/\n"
    again = await orca.post(f"{JOBS}/{job['id']}/duplicate", {})
    assert again["working_directory"] == "/"


async def test_idempotency_key_returns_the_first_job(orca: Engine) -> None:
    await orca.local_system("a")
    body = {"command": "true", "targets": {"systems": ["a"]}}
    headers = {**orca.admin.headers, "Idempotency-Key": "deploy-2026-11-23"}
    first = await orca.client.post(JOBS, json=body, headers=headers)
    again = await orca.client.post(JOBS, json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = await orca.client.post(JOBS, json={**body, "command": "false"}, headers=headers)
    assert (
        other.status_code == 409
        and other.json()["error"]["details"]["job_id"] == first.json()["id"]
    )
    racing = await asyncio.gather(
        *(
            orca.client.post(
                JOBS, json=body, headers={**orca.admin.headers, "Idempotency-Key": "race"}
            )
            for _ in range(5)
        )
    )
    assert len({response.json()["id"] for response in racing}) == 1
    assert sorted(response.status_code for response in racing) == [200, 200, 200, 200, 201]


async def test_workers_are_listed_with_their_load(orca: Engine) -> None:
    await orca.local_system("a")
    job = await orca.submit({"command": "sleep 2", "targets": {"systems": ["a"]}})
    await orca.execution_where(job["id"], lambda e: e["status"] == "running")

    async def loaded() -> list[dict[str, object]] | None:
        workers = await orca.get("/api/v1/workers")
        return workers if workers and workers[0]["running_jobs"] == 1 else None

    (worker,) = await wait_for(loaded, 10, "the heartbeat to count the execution")
    assert worker["alive"] and not worker["draining"] and worker["pid"] == os.getpid()
    assert worker["max_jobs"] == orca.settings.worker_max_jobs
