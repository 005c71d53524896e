"""A worker process killed outright in the middle of a fan-out."""

from __future__ import annotations

import collections
import re
import time
from pathlib import Path

import pytest

from tests.faults.hosts import leave_mark, lost_with, ports_by_name, side_effects, wait_running_on
from tests.fixtures.fleet import Fleet
from tests.fixtures.orca_up import OrcaUp

pytestmark = pytest.mark.slow


def test_a_worker_killed_mid_fan_out_loses_only_its_own_and_nothing_runs_twice(
    orca: OrcaUp, fleet: Fleet, effects: Path
) -> None:
    job = orca.post(
        "/jobs",
        {
            "command": leave_mark(effects, "sleep 3; echo finished"),
            "targets": {"groups": [f"fleet-{fleet.size}"]},
            "timeout_seconds": 300,
        },
    )
    victim = wait_running_on(orca, job["id"], "worker-2")
    orca.kill("worker-2")
    killed_at = time.monotonic()

    final = orca.wait_job(job["id"], timeout=240)
    took = time.monotonic() - killed_at
    executions = orca.executions(job["id"])
    assert len(executions) == fleet.size
    # Only what the killed worker was running is lost, and said to be: its outcome is unknown.
    lost = lost_with(executions, victim)
    counts = collections.Counter(e["status"] for e in executions)
    assert final["status"] == "failed"

    ran = side_effects(effects)
    ports = ports_by_name(fleet)
    assert max(ran.values()) == 1, [port for port, n in ran.items() if n > 1]
    for execution in executions:
        port = ports[execution["system_name"]]
        if execution["status"] == "succeeded":
            assert ran[port] == 1, execution["system_name"]
            assert re.search(r"finished", orca.output(execution["id"]))
    started = sum(ran[ports[e["system_name"]]] for e in lost)
    print(
        f"worker killed with {len(lost)} running ({started} had started their command); "
        f"the job ended {took:.1f}s later: {dict(counts)}"
    )
