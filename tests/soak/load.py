"""Load soak: many API clients and live viewers against a real Orca for a fixed time.

While jobs run one after another on an sshd fleet (each printing for a while), `--clients`
API clients read what users read (job lists and details, executions, output pages, systems,
the audit log, the overview) and `--viewers` WebSocket clients follow each running job's
output. Every answer must be a success and every viewer must end with every chunk once, in
order; the API's and workers' memory (RSS) is sampled all along.

    python -m tests.soak.load --minutes 10          # what ./scripts/soak runs
    python -m tests.soak.load --minutes 0.5 --clients 10 --viewers 2 --hosts 5

Prints a report (JSON with --json) and exits 1 when anything failed or memory grew.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil
import websockets

from tests.fixtures.fleet import Fleet
from tests.fixtures.orca_up import TERMINAL, OrcaUp

USERS = [("soak-admin", "admin"), ("soak-operator", "operator"), ("soak-auditor", "auditor")]
PASSWORD = "Soak-Password-2026-long"
LINES_PER_JOB = 60
# A memory sample every SAMPLE_SECONDS; "flat" means the last sample is within this of the
# first one taken after warm-up (the first fifth of the run).
SAMPLE_SECONDS = 10.0
ALLOWED_GROWTH = 0.15
ALLOWED_GROWTH_BYTES = 24 * 1024 * 1024


@dataclass
class Tally:
    requests: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    jobs: int = 0
    viewings: int = 0
    chunks_seen: int = 0
    rss: list[dict[str, Any]] = field(default_factory=list)

    def error(self, what: str) -> None:
        if len(self.errors) < 200:
            self.errors.append(what)


# Idle connections are dropped well before the API's 5 s keep-alive ends them: a request sent
# on a connection the server is closing fails (a POST cannot be sent again).
LIMITS = httpx.Limits(keepalive_expiry=2.0)


async def _client(
    base: str, token: str, tally: Tally, stop: float, jobs: list[str], rng: random.Random
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=LIMITS) as http:
        while time.monotonic() < stop:
            job_id = rng.choice(jobs) if jobs else None
            choices: list[tuple[str, str, dict[str, Any]]] = [
                ("jobs", "/jobs", {"limit": 50}),
                ("jobs?status", "/jobs", {"status": "succeeded", "limit": 20}),
                ("systems", "/systems", {"limit": 50}),
                ("overview", "/stats/overview", {}),
                ("me", "/auth/me", {}),
                ("workers", "/workers", {}),
            ]
            if job_id:
                choices += [
                    ("job", f"/jobs/{job_id}", {}),
                    ("executions", f"/jobs/{job_id}/executions", {"limit": 100}),
                ]
            name, path, params = rng.choice(choices)
            started = time.perf_counter()
            try:
                response = await http.get(path, params=params)
            except httpx.HTTPError as exc:
                tally.error(f"{name}: {type(exc).__name__}")
                continue
            tally.latencies.setdefault(name, []).append(time.perf_counter() - started)
            tally.requests[name] += 1
            if response.status_code != 200:
                tally.error(f"{name}: {response.status_code} {response.text[:200]}")
            await asyncio.sleep(rng.uniform(0, 0.2))


async def _viewer(ws_url: str, token: str, job_id: str, tally: Tally) -> dict[str, dict[int, str]]:
    """Follow one job's output to its end; every chunk once and in order."""
    held: dict[str, dict[int, str]] = {}
    async with websockets.connect(ws_url, open_timeout=30, max_size=2**24) as ws:
        await ws.send(json.dumps({"op": "auth", "token": token}))
        await ws.send(json.dumps({"op": "subscribe", "job_id": job_id, "output": True}))
        ended = False
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=3 if ended else 120)
            except TimeoutError:
                if ended:
                    return held
                tally.error(f"viewer of {job_id}: nothing for 120 s")
                return held
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "output":
                chunks = held.setdefault(message["execution_id"], {})
                seq = message["seq"]
                if seq in chunks or seq != max(chunks, default=0) + 1:
                    tally.error(f"viewer of {job_id}: seq {seq} after {max(chunks, default=0)}")
                chunks[seq] = message["data"]
                tally.chunks_seen += 1
            elif kind in {"error", "output.gap"}:
                tally.error(f"viewer of {job_id}: {message}")
            elif kind == "job" and message.get("status") in TERMINAL:
                ended = True


async def _jobs(
    orca: OrcaUp, token: str, viewers: int, tally: Tally, stop: float, seen: list[str]
) -> None:
    base = f"{orca.url}/api/v1"
    ws_url = f"ws://127.0.0.1:{orca.port}/api/v1/ws"
    command = (
        f'for i in $(seq 1 {LINES_PER_JOB}); do echo "line $i of $(hostname)"; sleep 0.25; done'
    )
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60, limits=LIMITS
    ) as http:
        while time.monotonic() < stop:
            try:
                response = await http.post(
                    "/jobs", json={"command": command, "targets": {"groups": ["soak"]}}
                )
            except httpx.HTTPError as exc:
                tally.error(f"submit: {type(exc).__name__}: {exc}")
                await asyncio.sleep(1)
                continue
            if response.status_code != 201:
                tally.error(f"submit: {response.status_code} {response.text[:200]}")
                await asyncio.sleep(1)
                continue
            job_id = response.json()["id"]
            seen.append(job_id)
            tally.jobs += 1
            results = await asyncio.gather(
                *(_viewer(ws_url, token, job_id, tally) for _ in range(viewers)),
                return_exceptions=True,
            )
            try:
                job = _ok(await http.get(f"/jobs/{job_id}"))
                stored = await _stored(http, job_id)
            except (httpx.HTTPError, ValueError) as exc:
                tally.error(f"reading job {job_id} back: {type(exc).__name__}: {exc}")
                continue
            if job["status"] != "succeeded":
                tally.error(f"job {job_id} ended {job['status']}: {job['counts']}")
            for result in results:
                tally.viewings += 1
                if isinstance(result, BaseException):
                    tally.error(f"viewer of {job_id}: {type(result).__name__}: {result}")
                elif result != stored:
                    tally.error(f"viewer of {job_id}: its output differs from the stored output")


def _ok(response: httpx.Response) -> Any:
    """The body of a 200; anything else is an error of the soak's (HTTPStatusError)."""
    if response.status_code != 200:
        raise httpx.HTTPStatusError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} "
            f"{response.text[:200]}",
            request=response.request,
            response=response,
        )
    return response.json()


async def _stored(http: httpx.AsyncClient, job_id: str) -> dict[str, dict[int, str]]:
    stored: dict[str, dict[int, str]] = {}
    executions = _ok(await http.get(f"/jobs/{job_id}/executions", params={"limit": 500}))
    for execution in executions["items"]:
        chunks: dict[int, str] = {}
        after = 0
        while True:
            page = _ok(
                await http.get(f"/executions/{execution['id']}/output", params={"after_seq": after})
            )
            for chunk in page["chunks"]:
                chunks[chunk["seq"]] = chunk["data"]
            if not page["chunks"]:
                break
            after = page["next_seq"]
        if chunks:
            stored[execution["id"]] = chunks
    return stored


def _processes(orca: OrcaUp) -> dict[str, psutil.Process]:
    assert orca.stack is not None
    return {child.name: psutil.Process(child.proc.pid) for child in orca.stack.children}


async def _sample(orca: OrcaUp, tally: Tally, stop: float, started: float) -> None:
    while True:
        row: dict[str, Any] = {"t": round(time.monotonic() - started, 1)}
        for name, proc in _processes(orca).items():
            try:
                row[name] = proc.memory_info().rss
            except psutil.Error:
                row[name] = None
        tally.rss.append(row)
        if time.monotonic() >= stop:
            return
        await asyncio.sleep(min(SAMPLE_SECONDS, max(0.0, stop - time.monotonic())))


def _memory_verdict(tally: Tally, names: list[str]) -> dict[str, Any]:
    if len(tally.rss) < 3:
        return {}
    warm = tally.rss[max(1, len(tally.rss) // 5)]
    last = tally.rss[-1]
    verdict = {}
    for name in names:
        if warm.get(name) and last.get(name):
            growth = last[name] - warm[name]
            flat = growth <= warm[name] * ALLOWED_GROWTH + ALLOWED_GROWTH_BYTES
            verdict[name] = {
                "after_warm_up_mib": round(warm[name] / 2**20, 1),
                "at_end_mib": round(last[name] / 2**20, 1),
                "peak_mib": round(max(r[name] or 0 for r in tally.rss) / 2**20, 1),
                "growth_mib": round(growth / 2**20, 1),
                "flat": flat,
            }
    return verdict


def prepare(orca: OrcaUp, fleet: Fleet, history: int = 0) -> None:
    """The fleet's hosts as systems, all in the group `soak` the jobs run on; then `history`
    finished jobs, so that the lists the clients read are full from the start (memory is then
    measured with the data at its steady size, not growing with it)."""
    orca.add_fleet(fleet, [fleet.size])
    group = orca.post("/groups", {"name": "soak"})
    systems = [s["id"] for s in orca.get("/systems", limit=500)["items"] if s["connector"] == "ssh"]
    orca.post(f"/groups/{group['id']}/systems", {"system_ids": systems})
    jobs = [
        orca.post("/jobs", {"command": "echo earlier", "targets": {"groups": ["soak"]}})["id"]
        for _ in range(history)
    ]
    for job_id in jobs:
        orca.wait_job(job_id, 600)


async def soak(orca: OrcaUp, fleet: Fleet, args: argparse.Namespace) -> dict[str, Any]:
    tokens = {}
    team = orca.post("/teams", {"name": "soak"})
    group = next(g for g in orca.get("/groups")["items"] if g["name"] == "soak")
    orca.post("/grants", {"team_id": team["id"], "group_id": group["id"], "level": "execute"})
    for username, role in USERS:
        user = orca.post("/users", {"username": username, "password": PASSWORD, "role": role})
        orca.post(f"/teams/{team['id']}/members", {"user_ids": [user["id"]]})
        tokens[role] = orca.login(username, PASSWORD)
    tally = Tally()
    started = time.monotonic()
    stop = started + args.minutes * 60
    rng = random.Random(args.seed)
    seen: list[str] = []
    roles = list(tokens)
    tasks = [
        _client(f"{orca.url}/api/v1", tokens[roles[i % len(roles)]], tally, stop, seen, rng)
        for i in range(args.clients)
    ]
    tasks.append(_jobs(orca, tokens["admin"], args.viewers, tally, stop, seen))
    tasks.append(_sample(orca, tally, stop, started))
    await asyncio.gather(*tasks)
    took = time.monotonic() - started
    names = [name for name in _processes(orca)]
    latency = {
        name: {
            "n": len(values),
            "p50_ms": round(statistics.median(values) * 1000, 1),
            "p99_ms": round(sorted(values)[int(0.99 * (len(values) - 1))] * 1000, 1),
        }
        for name, values in sorted(tally.latencies.items())
    }
    memory = _memory_verdict(tally, names)
    return {
        "minutes": round(took / 60, 2),
        "clients": args.clients,
        "viewers_per_job": args.viewers,
        "hosts": fleet.size,
        "workers": orca.workers,
        "requests": sum(tally.requests.values()),
        "requests_per_second": round(sum(tally.requests.values()) / took, 1),
        "jobs": tally.jobs,
        "viewings": tally.viewings,
        "chunks_seen_live": tally.chunks_seen,
        "errors": len(tally.errors),
        "first_errors": tally.errors[:20],
        "latency": latency,
        "memory": memory,
        "rss_samples": tally.rss,
        "ok": not tally.errors and bool(memory) and all(m["flat"] for m in memory.values()),
    }


def _print(report: dict[str, Any]) -> None:
    print(
        f"\nLoad soak: {report['minutes']} min, {report['clients']} API clients, "
        f"{report['viewers_per_job']} viewers per job, {report['hosts']} hosts, "
        f"{report['workers']} workers"
    )
    print(
        f"  {report['requests']} requests ({report['requests_per_second']}/s), "
        f"{report['jobs']} jobs, {report['viewings']} viewings, "
        f"{report['chunks_seen_live']} chunks seen live, errors: {report['errors']}"
    )
    for line in report["first_errors"]:
        print(f"    ! {line}")
    print("  latency (ms)          n     p50     p99")
    for name, row in report["latency"].items():
        print(f"    {name:<16} {row['n']:>6} {row['p50_ms']:>7} {row['p99_ms']:>7}")
    print("  memory (RSS, MiB)  after warm-up   end   peak  growth  flat")
    for name, row in report["memory"].items():
        print(
            f"    {name:<12} {row['after_warm_up_mib']:>12} {row['at_end_mib']:>6} "
            f"{row['peak_mib']:>6} {row['growth_mib']:>7}  {'yes' if row['flat'] else 'NO'}"
        )
    names = [k for k in report["rss_samples"][0] if k != "t"] if report["rss_samples"] else []
    print("  RSS over time (MiB): t(s) " + " ".join(names))
    for row in report["rss_samples"]:
        values = " ".join(f"{(row[n] or 0) / 2**20:.0f}" for n in names)
        print(f"    {row['t']:>7} {values}")
    print(f"  verdict: {'PASS' if report['ok'] else 'FAIL'}")


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    # `kill PID` unwinds through the fleet's and Orca's cleanup, as Ctrl-C does.
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--viewers", type=int, default=5, help="WebSocket viewers per job")
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--history", type=int, default=60, help="finished jobs made before the soak starts"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    with Fleet(args.hosts) as fleet, OrcaUp(args.workers, logs_to_files=True) as orca:
        prepare(orca, fleet, args.history)
        report = asyncio.run(soak(orca, fleet, args))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
