"""One worker cut off from PostgreSQL (Redis and the hosts still in reach) in the middle of a
fan-out, then reconnected: its leases lapse, the other workers record what it was running as
lost, and nothing it writes once back changes what was recorded."""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.faults.hosts import leave_mark, lost_with, ports_by_name, side_effects, wait_running_on
from tests.fixtures.fleet import Fleet
from tests.fixtures.orca_up import OrcaUp
from tests.fixtures.proxy import FaultyProxy

pytestmark = pytest.mark.slow

CUT_OFF = "worker-3"
# What a recorded end is made of: none of it may change once recorded.
RECORDED = ("status", "exit_code", "error", "finished_at", "worker_id")


@pytest.fixture
def partition(orca: OrcaUp) -> Iterator[FaultyProxy]:
    """worker-3 restarted to reach PostgreSQL through a proxy the test can cut; afterwards it
    is started again as before."""
    assert orca.stack is not None and orca.stack.postgres is not None
    proxy = FaultyProxy(orca.stack.postgres.port)
    child = orca.stack.child(CUT_OFF)
    direct = child.env
    child.stop(orca.log)
    url = make_url(direct["ORCA_DATABASE_URL"]).set(port=proxy.port)
    child.env = {**direct, "ORCA_DATABASE_URL": url.render_as_string(hide_password=False)}
    orca.stack.respawn(CUT_OFF)
    orca.wait_workers()
    try:
        yield proxy
    finally:
        proxy.close()
        orca.kill(CUT_OFF)
        child.env = direct
        orca.stack.respawn(CUT_OFF)


def _recorded(executions: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {e["id"]: tuple(e[key] for key in RECORDED) for e in executions}


def test_a_worker_cut_off_from_postgres_is_fenced_out(
    orca: OrcaUp, fleet: Fleet, effects: Path, partition: FaultyProxy
) -> None:
    job = orca.post(
        "/jobs",
        {
            "command": leave_mark(effects, "sleep 6; echo finished"),
            "targets": {"groups": ["fleet-90"]},
            "timeout_seconds": 300,
        },
    )
    pid = wait_running_on(orca, job["id"], CUT_OFF)
    partition.freeze()
    cut_at = time.monotonic()

    # While it is cut off: the job ends without it.
    final = orca.wait_job(job["id"], timeout=240)
    took = time.monotonic() - cut_at
    executions = orca.executions(job["id"])
    lost = lost_with(executions, pid)
    counts = collections.Counter(e["status"] for e in executions)
    before = _recorded(executions)

    # The cut-off worker's commands ran to their end on the hosts meanwhile; it holds their
    # results. Reconnected, it delivers them: each must be refused, the recorded end kept.
    time.sleep(max(0.0, 8 - (time.monotonic() - cut_at)))
    partition.thaw()
    healed_at = time.monotonic()
    orca.wait_workers(timeout=120)
    log = orca.home / "logs" / f"{CUT_OFF}.log"
    refused: set[str] = set()
    while len(refused) < len(lost):  # it tried to record each end, and was told no
        refused = {
            e["id"]
            for e in lost
            if f"execution {e['id']} was decided elsewhere" in log.read_text(errors="replace")
        }
        assert time.monotonic() - healed_at < 90, (len(refused), len(lost))
        time.sleep(0.2)
    after = orca.executions(job["id"])
    assert _recorded(after) == before, [
        (e["system_name"], [e[k] for k in RECORDED], before[e["id"]])
        for e in after
        if _recorded([e])[e["id"]] != before[e["id"]]
    ]
    assert orca.get(f"/jobs/{job['id']}")["status"] == final["status"] == "failed"

    # No host ran the command twice: what was lost was not run again elsewhere.
    ran = side_effects(effects)
    ports = ports_by_name(fleet)
    assert max(ran.values()) == 1, [port for port, n in ran.items() if n > 1]
    assert all(ran[ports[e["system_name"]]] == 1 for e in executions if e["status"] == "succeeded")

    # The reconnected worker works again, without a restart.
    again = orca.post("/jobs", {"command": "echo again", "targets": {"groups": ["fleet-90"]}})
    assert orca.wait_job(again["id"], timeout=120)["status"] == "succeeded"
    workers = collections.Counter(
        e["worker_id"].split(":")[1] for e in orca.executions(again["id"])
    )
    assert str(pid) in workers, workers
    print(
        f"worker cut off from PostgreSQL with {len(lost)} running: the job ended {took:.1f}s "
        f"later {dict(counts)}; reconnected, it changed nothing and took work again "
        f"{time.monotonic() - healed_at:.1f}s after the heal"
    )
