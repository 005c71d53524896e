"""PostgreSQL stopped for 20 seconds in the middle of a fan-out that prints as it goes."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.hosts import leave_mark, ports_by_name, side_effects
from tests.fixtures.fleet import Fleet
from tests.fixtures.orca_up import OrcaUp

pytestmark = pytest.mark.slow

DOWN_SECONDS = 20
LINES = 60
EXPECTED = "".join(f"line {i}\n" for i in range(1, LINES + 1)) + "done\n"


class Prober(threading.Thread):
    """Calls the API the whole time PostgreSQL is away: what each call got, and how fast."""

    def __init__(self, orca: OrcaUp, job_id: str) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(
            base_url=f"{orca.url}/api/v1",
            headers={"Authorization": f"Bearer {orca.token}"},
            timeout=30,
        )
        self.calls = [
            ("GET", f"/jobs/{job_id}", None),
            ("GET", "/systems", None),
            ("POST", "/auth/login", {"username": "admin", "password": orca.password}),
        ]
        self.seen: list[tuple[str, int, float, Any]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for method, path, body in self.calls:
                started = time.monotonic()
                try:
                    response = self.client.request(method, path, json=body)
                except httpx.HTTPError as exc:  # recorded as status 0: the test fails on it
                    self.seen.append((f"{method} {path}", 0, time.monotonic() - started, exc))
                    continue
                took = time.monotonic() - started
                try:
                    payload = response.json()
                except ValueError:
                    payload = response.text
                self.seen.append((f"{method} {path}", response.status_code, took, payload))
            time.sleep(0.2)
        self.client.close()


def test_postgres_away_for_20s_loses_and_repeats_no_output(
    orca: OrcaUp, fleet: Fleet, effects: Path
) -> None:
    assert orca.stack is not None and orca.stack.postgres is not None
    postgres = orca.stack.postgres
    command = leave_mark(
        effects, f'for i in $(seq 1 {LINES}); do echo "line $i"; sleep 0.5; done; echo done'
    )
    job = orca.post(
        "/jobs", {"command": command, "targets": {"groups": ["fleet-90"]}, "timeout_seconds": 300}
    )
    deadline = time.monotonic() + 60
    while True:  # every execution running and printing
        executions = orca.executions(job["id"])
        if all(e["status"] == "running" and e["output"]["seq"] > 0 for e in executions):
            break
        assert time.monotonic() < deadline, [
            (e["system_name"], e["status"], e["waiting"], e["error"])
            for e in executions
            if e["status"] != "running" or e["output"]["seq"] == 0
        ]
        time.sleep(0.2)

    api_pid = orca.api_pid()
    postgres.stop()
    stopped_at = time.monotonic()
    prober = Prober(orca, job["id"])
    prober.start()
    time.sleep(DOWN_SECONDS)
    prober.stop.set()
    prober.join(60)
    postgres.start()  # on the same port
    back_at = time.monotonic()

    assert orca.api_pid() == api_pid and orca.stack.child("api").proc.poll() is None
    # Meanwhile every call got a 503 with the error body, promptly, and never a 500.
    assert prober.seen, "nothing was asked while PostgreSQL was away"
    during = [seen for seen in prober.seen if seen[1] != 200]
    assert {status for _, status, _, _ in during} == {503}, {s[:2] for s in prober.seen}
    assert all(payload["error"]["code"] == "unavailable" for *_, payload in during), during[:3]
    slowest = max(took for _, _, took, _ in prober.seen)
    assert slowest < 10, f"a call took {slowest:.1f}s while PostgreSQL was away"

    # The API recovers by itself.
    while True:
        response = httpx.get(
            f"{orca.url}/api/v1/jobs/{job['id']}",
            headers={"Authorization": f"Bearer {orca.token}"},
            timeout=30,
        )
        if response.status_code == 200:
            break
        assert time.monotonic() - back_at < 30, response.text
        time.sleep(0.2)
    recovered = time.monotonic() - back_at

    final = orca.wait_job(job["id"], timeout=240)
    assert final["status"] == "succeeded", orca.failures(job["id"])
    # Every chunk stored once, in order, none missing: each host's whole output, exactly.
    for execution in orca.executions(job["id"]):
        chunks = orca.chunks(execution["id"])
        seqs = [chunk["seq"] for chunk in chunks]
        assert seqs == list(range(1, len(seqs) + 1)), (execution["system_name"], seqs)
        text = "".join(chunk["data"] for chunk in chunks)
        assert text == EXPECTED, (execution["system_name"], text)
    ran = side_effects(effects)
    ports = ports_by_name(fleet)
    assert sorted(ran) == sorted(ports[f"host-{i:04d}"] for i in range(90))
    assert set(ran.values()) == {1}
    print(
        f"PostgreSQL down {back_at - stopped_at:.0f}s: "
        f"{len(prober.seen)} API calls meanwhile, all 503, slowest {slowest:.2f}s; the API "
        f"answered again {recovered:.1f}s after PostgreSQL returned"
    )
