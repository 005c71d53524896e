"""Where Orca's time goes in a fan-out: CPU seconds per component, and py-spy profiles of the API
and every worker while jobs run.

    python -m bench.profile --size 200 --jobs 3

Starts a fleet and an Orca as bench.fanout does, runs one cold job, then `--jobs` warm jobs
while py-spy samples the API and the workers (the thread holding the GIL: where Python
spends CPU, not where threads wait; with `--idle`, also 10 idle seconds with the pools
full). Writes, under bench/results/profile-<time>/: a flame graph (SVG) and collapsed stacks per
process, and `top.txt`, the functions with the most samples, own and with callees.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from tests.fixtures.fleet import Fleet

from bench.common import BIN_DIR, RESULTS, log, median, tree_cpu
from bench.orca_stack import OrcaBench
from bench.throughput import GROUP, add_local_systems


def components(orca: OrcaBench) -> dict[str, list[int]]:
    assert orca.stack is not None
    found: dict[str, list[int]] = {"api": [orca.api_pid()], "workers": orca.worker_pids()}
    for name, server in (("postgres", orca.stack.postgres), ("redis", orca.stack.redis)):
        if server is not None and server.pid is not None:
            found[name] = [server.pid]
    return found


def cpu_by_component(orca: OrcaBench) -> dict[str, float]:
    return {name: tree_cpu(pids) for name, pids in components(orca).items()}


def top_functions(collapsed: Path, limit: int = 40) -> str:
    """The heaviest frames of py-spy's collapsed stacks: own samples and inclusive samples."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{collapsed.name}: {total} samples", "", "own:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(limit)]
    lines += ["", "inclusive:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(limit)]
    return "\n".join(lines)


def timeline(orca: OrcaBench, job_id: str) -> str:
    """Where one job's time went, from its executions' timestamps (the database's clock):
    waiting to be queued, queued until a worker claimed it, and running."""
    job = orca.get(f"/jobs/{job_id}")
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = orca.get(
            f"/jobs/{job_id}/executions", limit=500, **({"cursor": cursor} if cursor else {})
        )
        rows += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            break

    def at(value: str) -> float:
        return datetime.fromisoformat(value).timestamp()

    created = at(job["created_at"])
    queued = sorted(at(r["queued_at"]) - at(r["created_at"]) for r in rows)
    waiting = sorted(at(r["started_at"]) - at(r["queued_at"]) for r in rows)
    running = sorted(at(r["finished_at"]) - at(r["started_at"]) for r in rows)
    first_start = min(at(r["started_at"]) for r in rows) - created
    last_end = max(at(r["finished_at"]) for r in rows) - created
    job_end = at(job["finished_at"]) - created

    def spread(values: list[float]) -> str:
        return f"median {median(values) * 1000:.0f} ms, max {values[-1] * 1000:.0f} ms"

    return (
        f"first start {first_start * 1000:.0f} ms after the job was created; last end "
        f"{last_end * 1000:.0f} ms; job finished {job_end * 1000:.0f} ms. Per execution: "
        f"pending {spread(queued)}; queued → started {spread(waiting)}; "
        f"running {spread(running)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--idle", action="store_true", help="also profile 10 idle seconds")
    parser.add_argument(
        "--local", action="store_true", help="local systems instead of an sshd fleet"
    )
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    args = parser.parse_args()
    out = RESULTS / f"profile-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True)
    body = {"command": "echo hello", "targets": {"groups": [f"fleet-{args.size}"]}}
    with contextlib.ExitStack() as stack:
        orca = stack.enter_context(OrcaBench(args.workers))
        if args.local:
            fleet = None
            add_local_systems(orca, args.size)
            body["targets"] = {"groups": [GROUP]}
        else:
            fleet = stack.enter_context(Fleet(args.size, log=log))
            orca.add_fleet(fleet, [args.size])
        host_pids = fleet.pids() if fleet is not None else []
        before = cpu_by_component(orca)
        cold = orca.run_job(body, host_pids=host_pids)
        after = cpu_by_component(orca)
        log(f"cold: {cold.wall:.2f} s wall; CPU " + _delta(before, after))
        log(f"cold: {timeline(orca, cold.extra['job_id'])}")
        spies = []
        for name, pids in components(orca).items():
            if name in ("postgres", "redis"):
                continue
            for pid in pids:
                target = out / f"{name}-{pid}"
                for fmt, suffix in (("raw", ".txt"), ("flamegraph", ".svg")):
                    spies.append(subprocess.Popen(
                        [str(BIN_DIR / "py-spy"), "record", "--pid", str(pid), "--rate",
                         str(args.rate), "--format", fmt, "--output", f"{target}{suffix}",
                         "--nonblocking", "--gil"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    ))  # fmt: skip
        time.sleep(1.0)  # py-spy attaches
        before = cpu_by_component(orca)
        for index in range(args.jobs):
            warm = orca.run_job(body, host_pids=host_pids)
            log(f"warm {index + 1}: {warm.wall:.2f} s wall; {timeline(orca, warm.extra['job_id'])}")
        after = cpu_by_component(orca)
        log(f"{args.jobs} warm jobs: CPU " + _delta(before, after))
        if args.idle:
            before = cpu_by_component(orca)
            time.sleep(10)
            after = cpu_by_component(orca)
            log("10 idle seconds with full pools: CPU " + _delta(before, after))
        for spy in spies:
            spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
        psutil.wait_procs([psutil.Process(s.pid) for s in spies], timeout=30)
        for spy in spies:
            if spy.poll() is None:
                spy.kill()
            spy.wait()
    report = [top_functions(path) for path in sorted(out.glob("*.txt")) if path.stat().st_size]
    (out / "top.txt").write_text("\n\n".join(report) + "\n")
    log(f"profiles in {out}")


def _delta(before: dict[str, float], after: dict[str, float]) -> str:
    return ", ".join(f"{name} {after[name] - before[name]:.2f} s" for name in after)


if __name__ == "__main__":
    main()
