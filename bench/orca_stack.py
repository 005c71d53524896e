"""A real Orca for the benchmarks: tests.fixtures.orca_up's `orca up` (embedded PostgreSQL and
Redis, the API and W worker processes on a private home and a free port), plus timing.

A job is timed from the moment `POST /api/v1/jobs` is sent until the API reports the job
finished on its live feed (a WebSocket subscribed before the job is sent); the job is then read
back to check that every execution succeeded. The periodic health sweep is off, so nothing but
the measured jobs opens connections (a sweep would also warm the pools).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from tests.fixtures.orca_up import TERMINAL, OrcaError, OrcaUp

from bench.common import Sample, log, tree_cpu

__all__ = ["TERMINAL", "OrcaBench", "OrcaError"]


class OrcaBench(OrcaUp):
    def __init__(self, workers: int = 2, env: dict[str, str] | None = None) -> None:
        super().__init__(workers, env, log=log)

    def pids(self) -> list[int]:
        """Every process of this Orca: API, workers, PostgreSQL (with its backends), Redis."""
        assert self.stack is not None
        pids = [child.proc.pid for child in self.stack.children]
        for server in (self.stack.postgres, self.stack.redis):
            if server is not None and server.pid is not None:
                pids.append(server.pid)
        return pids

    def run_job(
        self,
        body: dict[str, object],
        cpu_pids: Iterable[int] = (),
        host_pids: Iterable[int] = (),
        timeout: float = 900,
    ) -> Sample:
        """Submit `body`, wait for the job to end; wall, Orca CPU and host CPU seconds."""
        orca_pids, host = self.pids(), list(host_pids)
        extra_pids = list(cpu_pids)
        with self.live() as ws:
            cpu0, host0 = tree_cpu(orca_pids + extra_pids), tree_cpu(host)
            started = time.perf_counter()
            job = self.post("/jobs", body)
            self.wait_jobs(ws, {job["id"]}, set(), started + timeout)
            wall = time.perf_counter() - started
            cpu1, host1 = tree_cpu(orca_pids + extra_pids), tree_cpu(host)
        final = self.get(f"/jobs/{job['id']}")
        counts = final["counts"]
        if final["status"] != "succeeded" or counts.get("succeeded") != final["target_count"]:
            failed = self.get(f"/jobs/{job['id']}/executions", status="error", limit=5)["items"]
            reasons = [f"{e['system_name']}: {e['error']}" for e in failed]
            raise OrcaError(f"job {job['id']} ended {final['status']} with {counts}; {reasons}")
        return Sample(wall, cpu1 - cpu0, host1 - host0, {"job_id": job["id"]})
