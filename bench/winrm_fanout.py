"""Fan-out of `echo hello` over WinRM: Orca against pywinrm used directly, side by side, both
against the fake Windows host (`tests.winrm_server`, no Windows exists here) in a process of its
own, NTLM over HTTP with every message sealed.

    python -m bench.winrm_fanout --sizes 10,50 --runs 5

N systems all point at the one fake host. Each round runs, per size:
  orca      POST /api/v1/jobs (shell cmd) until the API reports every execution succeeded
  pywinrm   N threads, each a winrm.Session running `echo hello` (bench/pywinrm_once.py)
Both authenticate with NTLM per connection, create a shell, run the command, read its output,
signal it and delete the shell. Windows allows a user 30 shells per host; the fake host's quota
is raised to N, since in a real fleet each system is a host of its own. The fake host is
Python, so its CPU ("host CPU") is a large part of each run; the ratio of the two tools, taken
within each round, is the figure.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import time
from typing import Any

from bench.common import PYTHON, Sample, log, summarize, tree_cpu, write_result
from bench.fanout import RunFailed, print_size, ratios
from bench.orca_stack import OrcaBench

USER = "orca-win"
PASSWORD = f"Bench-{secrets.token_urlsafe(12)}-1a"  # a fresh one each run
TOOLS = ("orca", "pywinrm")


class FakeHost:
    """The fake Windows host's process, stopped by closing its input (then by PID)."""

    def __init__(self, count: int) -> None:
        argv = [PYTHON, "-m", "bench.winrm_host", "--user", USER, "--password", PASSWORD]
        self.proc = subprocess.Popen(
            [*argv, "--count", str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise RunFailed("the fake WinRM host did not start")
        self.port = int(json.loads(line)["port"])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def add_systems(orca: OrcaBench, port: int, sizes: list[int]) -> None:
    credential = orca.post(
        "/credentials",
        {
            "name": "bench-winrm",
            "kind": "winrm-password",
            "username": USER,
            "secret": {"password": PASSWORD},
        },
    )
    for size in sizes:
        orca.post("/groups", {"name": f"windows-{size}"})
    rows = [
        {
            "name": f"win-{index:04d}",
            "connector": "winrm",
            "host": "127.0.0.1",
            "port": port,
            "credential_id": credential["id"],
            "options": {"transport": "ntlm", "scheme": "http"},
            "groups": [f"windows-{n}" for n in sizes if index < n],
        }
        for index in range(max(sizes))
    ]
    for start in range(0, len(rows), 200):
        orca.post("/systems/import", rows[start : start + 200])
    log(f"{len(rows)} WinRM systems added to Orca")


def pywinrm(host: FakeHost, size: int) -> Sample:
    argv = [PYTHON, "-m", "bench.pywinrm_once", "--port", str(host.port), "--count", str(size)]
    host0 = tree_cpu([host.proc.pid])
    done = subprocess.run(
        [*argv, "--user", USER, "--password", PASSWORD],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    host_cpu = tree_cpu([host.proc.pid]) - host0
    if done.returncode != 0:
        raise RunFailed(f"pywinrm exited {done.returncode}: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["ok"] != size:
        raise RunFailed(f"pywinrm: {result['ok']} of {size} answered")
    return Sample(result["wall"], result["cpu"], host_cpu)


def run(sizes: list[int], runs: int, workers: int) -> dict[str, Any]:
    results: dict[str, Any] = {"sizes": sizes, "runs": runs, "workers": workers, "by_size": {}}
    host = FakeHost(max(sizes))
    try:
        with OrcaBench(workers) as orca:
            add_systems(orca, host.port, sizes)
            for size in sizes:
                samples: dict[str, list[Sample]] = {tool: [] for tool in TOOLS}
                for index in range(runs):
                    for tool in TOOLS:
                        if tool == "orca":
                            body = {
                                "command": "echo hello",
                                "shell": "cmd",
                                "targets": {"groups": [f"windows-{size}"]},
                                "timeout_seconds": 600,
                            }
                            sample = orca.run_job(body, host_pids=[host.proc.pid])
                        else:
                            sample = pywinrm(host, size)
                        samples[tool].append(sample)
                        log(
                            f"N={size} round {index + 1}/{runs} {tool}: {sample.wall:.2f} s wall,"
                            f" {sample.cpu:.2f} s CPU, {sample.host_cpu:.2f} s host CPU"
                        )
                        time.sleep(1.0)  # the last run's connections close
                results["by_size"][str(size)] = {
                    "tools": {tool: summarize(found) for tool, found in samples.items()},
                    "ratios": ratios(samples, {"orca / pywinrm": ("orca", "pywinrm")}),
                }
                print_size(size, results["by_size"][str(size)])
            results["feed_misses"] = orca.feed_misses
    finally:
        host.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,50")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    write_result("winrm_fanout", run(sizes, args.runs, args.workers))


if __name__ == "__main__":
    main()
