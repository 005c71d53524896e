"""Live output: how soon a line printed on a host reaches a WebSocket client, and one execution
printing 100 MiB.

    python -m bench.live --lines 200 --mebibytes 100

Latency: a command on a real sshd host prints its own clock (`date +%s.%N`) every 50 ms; a
WebSocket client subscribed to the job's output notes when each line arrives (same machine,
same clock) and the difference is the latency, p50 and p99 over all lines.

Volume: one execution prints `--mebibytes` MiB of text (a known line, repeated). The workers'
resident memory is sampled every 0.1 s against what it was before; the stored output is
downloaded through the API and its SHA-256 compared with the bytes the command printed. The
output cap is raised above the size for this run (ORCA_OUTPUT_MAX_BYTES), or the middle would
be dropped by design.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
from typing import Any

import psutil
from tests.fixtures.fleet import Fleet
from websockets.sync.client import connect

from bench.common import log, percentile, write_result
from bench.orca_stack import TERMINAL, OrcaBench, OrcaError

LINE = b"orca live output benchmark 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOP\n"


def latency(orca: OrcaBench, lines: int) -> dict[str, Any]:
    body = {
        "command": f"i=0; while [ $i -lt {lines} ]; do date +%s.%N; sleep 0.05; i=$((i+1)); done",
        "targets": {"groups": ["fleet-1"]},
    }
    delays: list[float] = []
    with connect(f"ws://127.0.0.1:{orca.port}/api/v1/ws", open_timeout=30, max_size=2**24) as ws:
        ws.send(json.dumps({"op": "auth", "token": orca.token}))
        job = orca.post("/jobs", body)
        ws.send(json.dumps({"op": "subscribe", "job_id": job["id"], "output": True}))
        pending = b""
        deadline = time.monotonic() + lines * 0.05 + 120
        while time.monotonic() < deadline:
            message = json.loads(ws.recv(timeout=deadline - time.monotonic()))
            now = time.time()
            if message.get("type") == "output" and message.get("stream") == "stdout":
                pending += message["data"].encode()
                *complete, pending = pending.split(b"\n")
                delays += [(now - float(stamp)) * 1000 for stamp in complete if stamp]
            elif message.get("type") == "job" and message.get("status") in TERMINAL:
                break
    if len(delays) != lines:
        raise OrcaError(f"{len(delays)} of {lines} lines arrived")
    return {
        "lines": lines,
        "p50_ms": round(percentile(delays, 0.5), 1),
        "p99_ms": round(percentile(delays, 0.99), 1),
        "max_ms": round(max(delays), 1),
    }


class RssSampler:
    """Peak resident memory of some processes, sampled in a thread."""

    def __init__(self, pids: list[int]) -> None:
        self.procs = [psutil.Process(pid) for pid in pids]
        self.before = {p.pid: p.memory_info().rss for p in self.procs}
        self.peak = dict(self.before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for proc in self.procs:
                try:
                    rss = proc.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
                self.peak[proc.pid] = max(self.peak[proc.pid], rss)


def volume(orca: OrcaBench, mebibytes: int) -> dict[str, Any]:
    size = mebibytes * 2**20
    repeats, rest = divmod(size, len(LINE))
    expected = hashlib.sha256(LINE * repeats + LINE[:rest]).hexdigest()
    command = f"yes '{LINE.decode().rstrip()}' | head -c {size}"
    with RssSampler(orca.worker_pids()) as rss:
        sample = orca.run_job(
            {"command": command, "targets": {"groups": ["fleet-1"]}, "timeout_seconds": 3600},
            timeout=3600,
        )
    job_id = sample.extra["job_id"]
    (execution,) = orca.get(f"/jobs/{job_id}/executions")["items"]
    digest = hashlib.sha256()
    received = 0
    assert orca.api is not None
    started = time.perf_counter()
    with orca.api.stream("GET", f"/executions/{execution['id']}/output/raw") as response:
        response.raise_for_status()
        for block in response.iter_bytes():
            digest.update(block)
            received += len(block)
    download = time.perf_counter() - started
    growth = max(rss.peak[pid] - rss.before[pid] for pid in rss.before)
    result = {
        "mebibytes": mebibytes,
        "seconds": round(sample.wall, 2),
        "mib_per_second": round(mebibytes / sample.wall, 1),
        "worker_peak_rss_mib": round(max(rss.peak.values()) / 2**20, 1),
        "worker_rss_growth_mib": round(growth / 2**20, 1),
        "bytes_stored": received,
        "dropped_bytes": execution["output"]["dropped_bytes"],
        "sha256_match": digest.hexdigest() == expected,
        "download_seconds": round(download, 2),
    }
    if not result["sha256_match"] or received != size:
        raise OrcaError(f"stored output differs: {received} of {size} bytes, {result}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--mebibytes", type=int, default=100)
    args = parser.parse_args()
    cap = max(args.mebibytes + 8, 16) * 2**20
    results: dict[str, Any] = {}
    with Fleet(1, log=log) as fleet, OrcaBench(2, env={"ORCA_OUTPUT_MAX_BYTES": str(cap)}) as orca:
        orca.add_fleet(fleet, [1])
        results["latency"] = latency(orca, args.lines)
        log(f"latency: {results['latency']}")
        results["volume"] = volume(orca, args.mebibytes)
        log(f"volume: {results['volume']}")
    write_result("live", results)


if __name__ == "__main__":
    main()
