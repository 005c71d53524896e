"""Pipeline throughput: executions of `true` on the local connector, end to end.

    python -m bench.throughput --executions 10000 --workers 1,2 --runs 3

`--systems` local systems (all this machine) in one group; `executions / systems` jobs on that
group, submitted one after the other through the API as fast as it answers; the clock runs
from the first submission until the API's live feed reports the last job finished, and every
job is read back to check that all its executions succeeded. Executions per second is the
count over that time. The same number of `sh -c true` processes started by `xargs -P <slots>`
is the floor: what starting the commands costs with no orchestration at all.

The local connector runs each command as its own process (as `orca-local` when the worker is
root), so this measures Orca's per-execution work: dispatch, the arq queue, the claim, the
audit rows, the output and the end, on PostgreSQL and Redis, plus one process start.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from typing import Any

from bench.common import children_cpu, log, median, tree_cpu, write_result
from bench.orca_stack import OrcaBench, OrcaError

GROUP = "local-pool"


def add_local_systems(orca: OrcaBench, count: int) -> None:
    orca.post("/groups", {"name": GROUP})
    rows = [
        {
            "name": f"local-{index:04d}",
            "host": "localhost",
            "connector": "local",
            "groups": [GROUP],
        }
        for index in range(count)
    ]
    for start in range(0, count, 500):
        orca.post("/systems/import", rows[start : start + 500])


def one_run(orca: OrcaBench, jobs: int, systems: int) -> dict[str, Any]:
    body = {"command": "true", "targets": {"groups": [GROUP]}, "timeout_seconds": 600}
    pids = orca.pids()
    waiting: set[str] = set()
    finished: set[str] = set()
    with orca.live() as ws:
        cpu0 = tree_cpu(pids)
        started = time.perf_counter()
        for _ in range(jobs):
            waiting.add(orca.post("/jobs", body)["id"])
        submitted = time.perf_counter() - started
        orca.wait_jobs(ws, waiting, finished, started + 3600)
        wall = time.perf_counter() - started
        cpu = tree_cpu(pids) - cpu0
    for job_id in waiting:
        job = orca.get(f"/jobs/{job_id}")
        if job["status"] != "succeeded" or job["counts"]["succeeded"] != systems:
            raise OrcaError(f"job {job_id} ended {job['status']}: {job['counts']}")
    executions = jobs * systems
    return {
        "wall": wall,
        "submit_seconds": submitted,
        "executions_per_second": executions / wall,
        "cpu": cpu,
        "cpu_ms_per_execution": cpu / executions * 1000,
    }


def floor(executions: int, slots: int) -> dict[str, Any]:
    """`executions` processes of `sh -c true`, `slots` at a time, with no orchestration."""
    cpu0, started = children_cpu(), time.perf_counter()
    subprocess.run(
        [
            "xargs",
            "-P",
            str(slots),
            "-n",
            "100",
            "sh",
            "-c",
            'for _ in "$@"; do sh -c true; done',
            "_",
        ],
        input="x\n" * executions,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    return {"wall": wall, "executions_per_second": executions / wall, "cpu": children_cpu() - cpu0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=10000)
    parser.add_argument("--systems", type=int, default=100)
    parser.add_argument("--workers", default="1,2", help="worker process counts to measure")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.executions % args.systems:
        parser.error("--executions must be a multiple of --systems")
    jobs = args.executions // args.systems
    results: dict[str, Any] = {
        "executions": args.executions,
        "systems": args.systems,
        "jobs": jobs,
        "runs": args.runs,
        "by_workers": {},
    }
    for workers in (int(w) for w in args.workers.split(",")):
        with OrcaBench(workers) as orca:
            add_local_systems(orca, args.systems)
            # Warm-up: the first job pays for connection pools and caches in every process.
            one_run(orca, 1, args.systems)
            runs = []
            for index in range(args.runs):
                run = one_run(orca, jobs, args.systems)
                runs.append(run)
                log(
                    f"{workers} worker(s), run {index + 1}: {run['executions_per_second']:.0f} "
                    f"executions/s ({run['wall']:.1f} s, {run['cpu_ms_per_execution']:.1f} ms CPU "
                    "per execution)"
                )
            # The floor gets as many at once as Orca's workers have slots.
            slots = sum(w["max_jobs"] for w in orca.get("/workers") if w["alive"])
            feed_misses = orca.feed_misses
        base = [floor(args.executions, slots) for _ in range(args.runs)]
        rate = median(r["executions_per_second"] for r in runs)
        floor_rate = median(b["executions_per_second"] for b in base)
        results["by_workers"][str(workers)] = {
            "executions_per_second": round(rate, 1),
            "executions_per_minute": round(rate * 60),
            "cpu_ms_per_execution": round(median(r["cpu_ms_per_execution"] for r in runs), 2),
            "runs": runs,
            "floor_executions_per_second": round(floor_rate, 1),
            "orca / floor": round(rate / floor_rate, 3),
            "feed_misses": feed_misses,
        }
        log(f"{workers} worker(s): median {rate:.0f} executions/s; xargs floor {floor_rate:.0f}/s")
    print(json.dumps(results["by_workers"], indent=2))
    write_result("throughput", results)


if __name__ == "__main__":
    main()
