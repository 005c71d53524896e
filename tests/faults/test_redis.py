"""Redis going away mid-fan-out: restarted cleanly (its queue kept on disk), and lost with its
data (a crash, or a new empty server). Redis is transport only: work is delayed, never lost."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.hosts import leave_mark, ports_by_name, side_effects
from tests.fixtures.fleet import Fleet
from tests.fixtures.orca_up import OrcaUp

pytestmark = pytest.mark.slow

DOWN_SECONDS = 5


def _running(orca: OrcaUp, job_id: str, at_least: int) -> None:
    deadline = time.monotonic() + 60
    while orca.get(f"/jobs/{job_id}")["counts"].get("running", 0) < at_least:
        assert time.monotonic() < deadline, "the job never got going"
        time.sleep(0.05)


@pytest.mark.parametrize("data", ["kept", "lost"])
def test_a_fan_out_completes_after_redis_returns(
    orca: OrcaUp, fleet: Fleet, effects: Path, data: str
) -> None:
    assert orca.stack is not None and orca.stack.redis is not None
    redis = orca.stack.redis
    body = {
        "command": leave_mark(effects, "sleep 2; echo finished"),
        "targets": {"groups": [f"fleet-{fleet.size}"]},
        "timeout_seconds": 300,
    }
    job = orca.post("/jobs", body)
    _running(orca, job["id"], 20)
    if data == "kept":
        redis.stop()  # SIGTERM: Redis writes its append-only file and exits
    else:
        redis.kill()
        shutil.rmtree(redis.data_dir / "appendonlydir", ignore_errors=True)
        (redis.data_dir / "dump.rdb").unlink(missing_ok=True)
    stopped_at = time.monotonic()

    # Meanwhile the API says what is missing, and still takes work (the reconciler hands it
    # to the workers once Redis is back).
    ready = httpx.get(f"{orca.url}/readyz", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["error"]["code"] == "not_ready"
    assert ready.json()["error"]["details"]["checks"]["redis"]["ok"] is False
    late = orca.post("/jobs", {**body, "targets": {"groups": ["fleet-20"]}})
    time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - stopped_at)))
    redis.start()  # on the same port
    back_at = time.monotonic()

    final = orca.wait_job(job["id"], timeout=180)
    late_final = orca.wait_job(late["id"], timeout=180)
    took = time.monotonic() - back_at
    assert final["status"] == "succeeded", orca.failures(job["id"])
    assert late_final["status"] == "succeeded", orca.failures(late["id"])

    # Each host ran the first job's command once and the late job's (on the first 20) once.
    ran = side_effects(effects)
    ports = ports_by_name(fleet)
    first_twenty = {ports[f"host-{index:04d}"] for index in range(20)}
    assert set(ran) == set(ports.values())
    assert all(ran[port] == (2 if port in first_twenty else 1) for port in ran), ran
    print(f"Redis down {DOWN_SECONDS}s, data {data}: both jobs ended {took:.1f}s after it returned")
