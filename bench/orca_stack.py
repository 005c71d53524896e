"""A real Orca for the benchmarks: `orca up`'s own supervisor (app.stack.Stack) with embedded
PostgreSQL and Redis, the API and W worker processes, on a private home and a free port.

A job is timed from the moment `POST /api/v1/jobs` is sent until the API reports the job
finished on its live feed (a WebSocket subscribed before the job is sent); the job is then read
back to check that every execution succeeded. The periodic health sweep is off, so nothing but
the measured jobs opens connections (a sweep would also warm the pools).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from app.core.config import Settings
from app.core.embedded import free_port
from app.stack import Stack
from bench.common import Sample, log, tree_cpu
from bench.fleet import Fleet

TERMINAL = {"succeeded", "failed", "cancelled"}


class OrcaError(RuntimeError):
    pass


class OrcaBench:
    def __init__(self, workers: int = 2, env: dict[str, str] | None = None) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="orca-bench-home-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = {
            "ORCA_HOME": str(self.home),
            "ORCA_API_PORT": str(self.port),
            "ORCA_WORKERS": str(workers),
            "ORCA_LOG_LEVEL": "WARNING",
            "ORCA_HEALTH_CHECK_SECONDS": "0",
            "ORCA_ACCESS_TOKEN_TTL_SECONDS": "86400",
            **(env or {}),
        }
        self._saved: dict[str, str | None] = {}
        self.stack: Stack | None = None
        self.api: httpx.Client | None = None
        self.token = ""
        self.feed_misses = 0  # job ends the feed did not bring (see wait_jobs)

    def __enter__(self) -> OrcaBench:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- life ----------------------------------------------------------------------------------

    def start(self) -> None:
        # The supervisor's children read their settings from the environment, as under `orca up`.
        for key, value in self.env.items():
            self._saved[key] = os.environ.get(key)
            os.environ[key] = value
        self.stack = Stack(Settings(), out=lambda line: log(f"orca: {line}"))
        log(f"starting Orca ({self.workers} workers) on port {self.port} ...")
        password = self.stack.start()
        self.stack.wait_ready(timeout=180)
        if password is None:
            raise OrcaError("the benchmark's Orca home was not fresh")
        self.api = httpx.Client(base_url=f"{self.url}/api/v1", timeout=120)
        login = self.api.post("/auth/login", json={"username": "admin", "password": password})
        login.raise_for_status()
        self.token = login.json()["access_token"]
        self.api.headers["Authorization"] = f"Bearer {self.token}"
        self.wait_workers()

    def stop(self) -> None:
        if self.api is not None:
            self.api.close()
            self.api = None
        if self.stack is not None:
            self.stack.stop()
            self.stack = None
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(self.home, ignore_errors=True)

    def worker_names(self) -> list[str]:
        assert self.stack is not None
        return [child.name for child in self.stack.children if child.name.startswith("worker")]

    def worker_pids(self) -> list[int]:
        assert self.stack is not None
        return [c.proc.pid for c in self.stack.children if c.name.startswith("worker")]

    def api_pid(self) -> int:
        assert self.stack is not None
        return next(c.proc.pid for c in self.stack.children if c.name == "api")

    def pids(self) -> list[int]:
        """Every process of this Orca: API, workers, PostgreSQL (with its backends), Redis."""
        assert self.stack is not None
        pids = [child.proc.pid for child in self.stack.children]
        for server in (self.stack.postgres, self.stack.redis):
            if server is not None and server.pid is not None:
                pids.append(server.pid)
        return pids

    def wait_workers(self, timeout: float = 60) -> None:
        """Until every worker process of ours has a live heartbeat."""
        wanted = set(self.worker_pids())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = {w["pid"] for w in self.get("/workers") if w["alive"] and not w["draining"]}
            if wanted <= live:
                return
            time.sleep(0.1)
        raise OrcaError(f"workers {sorted(wanted)} did not report in {timeout:.0f}s")

    def restart_workers(self) -> None:
        """Fresh worker processes: every pooled connection is gone."""
        assert self.stack is not None
        for name in self.worker_names():
            self.stack.restart(name)
        self.wait_workers()

    # -- API -----------------------------------------------------------------------------------

    def _check(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise OrcaError(
                f"{response.request.method} {response.request.url.path}: "
                f"{response.status_code} {response.text[:500]}"
            )
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        assert self.api is not None
        return self._check(self.api.get(path, params=params))

    def post(self, path: str, body: Any, **kwargs: Any) -> Any:
        assert self.api is not None
        return self._check(self.api.post(path, json=body, **kwargs))

    def add_fleet(self, fleet: Fleet, group_sizes: Sequence[int]) -> None:
        """The fleet's hosts as SSH systems with their host keys pinned, one key credential,
        and a group `fleet-<n>` of the first n systems for each size n."""
        assert fleet.key is not None
        credential = self.post(
            "/credentials",
            {
                "name": "bench-key",
                "kind": "ssh-key",
                "username": fleet.username,
                "secret": {"private_key": fleet.key.private},
            },
        )
        for size in group_sizes:
            self.post("/groups", {"name": f"fleet-{size}"})
        rows = [
            {
                "name": f"host-{index:04d}",
                "host": "127.0.0.1",
                "port": server.port,
                "credential_id": credential["id"],
                "host_key": server.host_key_line,
                "groups": [f"fleet-{n}" for n in group_sizes if index < n],
                "labels": {"bench": "fleet"},
            }
            for index, server in enumerate(fleet.servers)
        ]
        for start in range(0, len(rows), 200):
            self.post("/systems/import", rows[start : start + 200])
        log(f"{len(rows)} systems added to Orca")

    def live(self) -> ClientConnection:
        """A WebSocket on the job feed, authenticated and subscribed."""
        ws = connect(f"ws://127.0.0.1:{self.port}/api/v1/ws", open_timeout=30, max_size=2**24)
        ws.send(json.dumps({"op": "auth", "token": self.token}))
        ws.send(json.dumps({"op": "subscribe", "feed": True}))
        while True:
            message = json.loads(ws.recv(timeout=30))
            if message.get("type") == "subscribed":
                return ws
            if message.get("type") == "error":
                raise OrcaError(f"WebSocket: {message}")

    def wait_jobs(
        self, ws: ClientConnection, waiting: set[str], finished: set[str], deadline: float
    ) -> None:
        """Until every job in `waiting` is in `finished`, which job events on the feed fill.
        The feed is at-most-once (Redis pub/sub), as the console knows: after a quiet second
        the jobs still waited for are read from the API instead."""
        while not waiting <= finished:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise OrcaError(f"{len(waiting - finished)} job(s) not finished in time")
            try:
                event = json.loads(ws.recv(timeout=min(left, 1.0)))
            except TimeoutError:
                for job_id in waiting - finished:
                    if self.get(f"/jobs/{job_id}")["status"] in TERMINAL:
                        self.feed_misses += 1
                        finished.add(job_id)
                continue
            if event.get("type") == "job" and event.get("status") in TERMINAL:
                finished.add(event["job_id"])

    def run_job(
        self,
        body: dict[str, Any],
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
