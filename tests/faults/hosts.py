"""What the fault tests read off the hosts: which commands ran where, and how often."""

from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Any

from tests.fixtures.fleet import Fleet
from tests.fixtures.orca_up import OrcaUp

TERMINAL = {"succeeded", "failed", "timed_out", "error", "cancelled"}


def leave_mark(effects: Path, then: str) -> str:
    """A command that appends its host's sshd port to `effects`, then runs `then`."""
    return f'echo "${{SSH_CONNECTION##* }}" >> {effects}; {then}'


def side_effects(path: Path) -> collections.Counter[int]:
    """How many times the command ran on each host (by the host's sshd port)."""
    if not path.exists():
        return collections.Counter()
    return collections.Counter(int(line) for line in path.read_text().split())


def ports_by_name(fleet: Fleet, prefix: str = "host") -> dict[str, int]:
    return {f"{prefix}-{index:04d}": server.port for index, server in enumerate(fleet.servers)}


def runs_on(execution: dict[str, Any], pid: int) -> bool:
    """Whether the worker process `pid` holds (or held) the execution."""
    return bool(execution["worker_id"]) and f":{pid}:" in execution["worker_id"]


def wait_running_on(orca: OrcaUp, job_id: str, name: str, at_least: int = 5) -> int:
    """Until the worker `name` (`worker-2`) runs `at_least` of the job's executions; its pid."""
    assert orca.stack is not None
    pid = orca.stack.child(name).proc.pid
    deadline = time.monotonic() + 60
    while True:
        running = orca.get(f"/jobs/{job_id}/executions", status="running", limit=500)["items"]
        if sum(1 for e in running if runs_on(e, pid)) >= at_least:
            return pid
        assert time.monotonic() < deadline, f"{name} never ran anything"
        time.sleep(0.05)


def lost_with(executions: list[dict[str, Any]], pid: int) -> list[dict[str, Any]]:
    """Check that every execution ended, that those the worker `pid` was running, and only
    those, are lost (outcome unknown), and that all others succeeded; the lost ones."""
    assert {e["status"] for e in executions} <= TERMINAL
    counts = collections.Counter(e["status"] for e in executions)
    lost = [e for e in executions if e["status"] == "error"]
    assert lost, counts
    assert all(e["error"]["code"] == "worker_lost" for e in lost), lost[:3]
    assert all(runs_on(e, pid) for e in lost), [
        (e["system_name"], e["worker_id"], e["error"]) for e in lost if not runs_on(e, pid)
    ]
    assert counts["succeeded"] + len(lost) == len(executions), counts
    return lost
