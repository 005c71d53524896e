"""The worker side of an execution: at-most-once start, retries before the command starts,
output capped head and tail."""

from __future__ import annotations

import itertools
from pathlib import Path

from arq.connections import ArqRedis
from sqlalchemy import func, select, update

from app.core.embedded import free_port
from app.core.redis import QUEUE_NAME
from app.models import AuditEvent, Execution
from app.models.enums import ExecutionStatus
from tests.fixtures.engine import Engine, shared_directory
from tests.fixtures.sshd import SshAccount


async def _audit_count(orca: Engine, action: str) -> int:
    async with orca.live.session() as session:
        return int(
            await session.scalar(select(func.count()).where(AuditEvent.action == action)) or 0
        )


async def test_a_task_delivered_twice_runs_the_command_once(
    idle_orca: Engine, tmp_path: Path
) -> None:
    orca = idle_orca
    marks = shared_directory(tmp_path / "marks") / "runs"
    await orca.local_system("a")
    job = await orca.submit({"command": f"echo ran >> {marks}", "targets": {"systems": ["a"]}})
    (execution,) = await orca.executions(job["id"])
    # As the dispatcher would, then arq delivering the same work twice (two task ids: a
    # redelivery after a lost worker, or the reconciler's requeue racing the first).
    async with orca.live.session() as session:
        await session.execute(
            update(Execution)
            .where(Execution.id == execution["id"])
            .values(status=ExecutionStatus.queued, queued_at=func.now())
        )
        await session.commit()
    arq: ArqRedis = orca.live.app.state.arq
    for name in ("first", "second"):
        await arq.enqueue_job(
            "run_execution", execution["id"], 0, _job_id=name, _queue_name=QUEUE_NAME
        )
    await orca.start_worker()
    assert (await orca.finished(job["id"]))["status"] == "succeeded"
    again = await arq.enqueue_job(
        "run_execution", execution["id"], 0, _job_id="late", _queue_name=QUEUE_NAME
    )
    assert again is not None
    assert await again.result(timeout=20) == "not claimed"
    assert marks.read_text() == "ran\n"
    assert await _audit_count(orca, "execution.start") == 1


async def test_unreachable_systems_are_retried_when_the_job_asks(
    orca: Engine, ssh_account: SshAccount
) -> None:
    await orca.ssh_system(None, ssh_account, name="closed", port=free_port())
    job = await orca.submit(
        {
            "command": "true",
            "retries": {"attempts": 3, "backoff_seconds": 0},
            "targets": {"systems": ["closed"]},
        }
    )
    assert job["retries"] == {"attempts": 3, "backoff_seconds": 0}
    assert (await orca.finished(job["id"]))["status"] == "failed"
    (execution,) = await orca.executions(job["id"])
    assert execution["status"] == "error" and execution["attempt"] == 3
    assert execution["error"]["code"] == "unreachable"
    assert execution["error"]["reason"] == "refused"
    assert await _audit_count(orca, "execution.retry") == 2

    once = await orca.submit({"command": "true", "targets": {"systems": ["closed"]}})
    await orca.finished(once["id"])
    (single,) = await orca.executions(once["id"])
    assert single["attempt"] == 1 and single["max_attempts"] == 1
    assert await _audit_count(orca, "execution.retry") == 2


async def test_output_past_the_cap_keeps_head_and_tail(idle_orca: Engine) -> None:
    orca = idle_orca
    cap = 128 * 1024
    await orca.start_worker(output_max_bytes=cap)
    await orca.local_system("a")
    job = await orca.submit({"command": "seq 1 200000", "targets": {"systems": ["a"]}})
    assert (await orca.finished(job["id"]))["status"] == "succeeded"
    (execution,) = await orca.executions(job["id"])
    full = "".join(f"{n}\n" for n in range(1, 200001)).encode()
    info = execution["output"]
    assert info["truncated"] and info["dropped_bytes"] > 0
    assert info["bytes"] + info["dropped_bytes"] == len(full)
    assert cap - 64 * 1024 <= info["bytes"] <= cap
    response = await orca.client.get(
        f"/api/v1/executions/{execution['id']}/output/raw", headers=orca.admin.headers
    )
    kept = response.content
    assert len(kept) == info["bytes"]
    assert kept[: cap // 2] == full[: cap // 2]
    assert full.endswith(kept[cap // 2 :])
    # Reading in order shows where the gap is: one jump in seq numbers.
    page = await orca.get(f"/api/v1/executions/{execution['id']}/output", limit=5000)
    seqs = [chunk["seq"] for chunk in page["chunks"]]
    jumps = [b for a, b in itertools.pairwise(seqs) if b != a + 1]
    assert len(jumps) == 1 and page["complete"] and page["dropped_bytes"] == info["dropped_bytes"]
