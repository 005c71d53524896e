"""Fan-out of `echo hello` to N real sshd hosts on loopback: Orca against OpenSSH, Ansible and
parallel-ssh, side by side in one run.

    python -m bench.fanout --sizes 10,50,200,500 --runs 5

Each round runs every tool once per size, one after the other, on the same fleet:
  orca-cold     POST /api/v1/jobs until the API reports the job finished, on worker processes
                started afresh (no pooled connection)
  orca-warm     the same job again at once, on the connections the cold run left in the pools
  openssh       `xargs -P N ssh ...`, OpenSSH's default key exchange (sntrup761x25519)
  openssh-c25519  the same with `-o KexAlgorithms=curve25519-sha256`, Orca's choice
  pssh          parallel-ssh (libssh2), pool size N
  ansible       `ansible -m raw -f N`, fresh ControlPersist directory (cold)
  ansible-warm  the same command again, over the ControlPersist masters the cold run left

Every run checks its answer (N times "hello", or N executions succeeded) and a run that fails
stops the benchmark. Wall seconds, the tool's CPU seconds and the sshd side's CPU seconds are
kept per run; the report gives medians, and ratios taken within each round, then their median.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from tests.fixtures.fleet import Fleet

from bench.common import (
    BIN_DIR,
    PYTHON,
    Sample,
    children_cpu,
    log,
    median,
    summarize,
    tree_cpu,
    write_result,
)
from bench.orca_stack import OrcaBench

COMMAND = "echo hello"
TOOLS = ("orca-cold", "orca-warm", "openssh", "openssh-c25519", "pssh", "ansible", "ansible-warm")
WARM_AFTER = {"orca-cold": "orca-warm", "ansible": "ansible-warm"}


class RunFailed(RuntimeError):
    pass


def _timed(
    argv: list[str], fleet: Fleet, env: dict[str, str] | None = None, stdin: str | None = None
) -> tuple[Sample, str]:
    host0, cpu0 = tree_cpu(fleet.pids()), children_cpu()
    started = time.perf_counter()
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, env=env, timeout=1800, check=False
    )
    wall = time.perf_counter() - started
    cpu, host = children_cpu() - cpu0, tree_cpu(fleet.pids()) - host0
    if done.returncode != 0:
        raise RunFailed(f"{argv[0]} exited {done.returncode}: {done.stderr[-2000:]}")
    return Sample(wall, cpu, host), done.stdout


def openssh(fleet: Fleet, size: int, kex: str | None = None) -> Sample:
    options = [
        "-F", "/dev/null",
        "-i", str(fleet.key_path),
        "-l", fleet.username,
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={fleet.known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "ConnectTimeout=60",
    ]  # fmt: skip
    if kex:
        options += ["-o", f"KexAlgorithms={kex}"]
    argv = ["xargs", "-P", str(size), "-I", "{}", "ssh", *options, "-p", "{}", "127.0.0.1", COMMAND]
    sample, out = _timed(argv, fleet, stdin="\n".join(map(str, fleet.ports(size))) + "\n")
    if out.split() != ["hello"] * size:
        raise RunFailed(f"openssh: {out.count('hello')} of {size} answered")
    return sample


def pssh(fleet: Fleet, size: int) -> Sample:
    argv = [PYTHON, "-m", "bench.pssh_once", "--user", fleet.username, "--key", str(fleet.key_path)]
    around, out = _timed([*argv, *map(str, fleet.ports(size))], fleet)
    result = json.loads(out.strip().splitlines()[-1])
    if result["ok"] != size:
        raise RunFailed(f"pssh: {result['ok']} of {size} answered")
    # Wall and CPU timed inside the process, after its imports; the host side around it.
    return Sample(result["wall"], result["cpu"], around.host_cpu)


class Ansible:
    """ansible-core ad hoc, with its defaults (ControlPersist=60s): a cold run in a fresh
    control directory, then a warm one over the masters it left, which are stopped by PID."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.control = Path(tempfile.mkdtemp(prefix="orca-bench-cp-"))
        self.scratch = Path(tempfile.mkdtemp(prefix="orca-bench-ansible-"))

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "LC_ALL": "C.UTF-8",
            "ANSIBLE_CONFIG": str(self.scratch / "none.cfg"),
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.control),
            "ANSIBLE_SSH_COMMON_ARGS": "-F /dev/null -o GlobalKnownHostsFile=/dev/null"
            f" -o UserKnownHostsFile={self.fleet.known_hosts}",
            "ANSIBLE_LOCAL_TEMP": str(self.scratch / "tmp"),
            "ANSIBLE_HOME": str(self.scratch / "home"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_TIMEOUT": "60",
        }

    def masters(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            if any(str(self.control) in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        return found

    def _masters_cpu(self) -> float:
        total = 0.0
        for proc in self.masters():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def run(self, size: int) -> Sample:
        self.fleet.write_inventory(size)
        argv = [
            str(BIN_DIR / "ansible"), "fleet",
            "-i", str(self.fleet.inventory),
            "-m", "raw", "-a", COMMAND,
            "-f", str(size),
            "-u", self.fleet.username,
            "--private-key", str(self.fleet.key_path),
            "-o",
        ]  # fmt: skip
        before = self._masters_cpu()
        sample, out = _timed(argv, self.fleet, env=self.env())
        # ControlPersist masters fork into the background: their CPU is not a waited child's.
        sample.cpu += self._masters_cpu() - before
        answered = sum(1 for line in out.splitlines() if "rc=0" in line and "hello" in line)
        if answered != size:
            raise RunFailed(f"ansible: {answered} of {size} answered: {out[-1000:]}")
        return sample

    def stop_masters(self) -> None:
        procs = self.masters()
        for proc in procs:
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        psutil.wait_procs(procs, timeout=10)
        for path in self.control.iterdir():
            path.unlink(missing_ok=True)

    def close(self) -> None:
        self.stop_masters()
        for directory in (self.control, self.scratch):
            shutil.rmtree(directory, ignore_errors=True)


def orca_job(size: int) -> dict[str, Any]:
    return {"command": COMMAND, "targets": {"groups": [f"fleet-{size}"]}, "timeout_seconds": 600}


def settle(fleet: Fleet, seconds: float = 1.0) -> None:
    """Let the sshd session processes of the last run exit before the next tool starts."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listeners = set(fleet.pids())
        sessions = sum(1 for p in psutil.process_iter(["ppid"]) if p.info["ppid"] in listeners)
        if sessions == 0:
            break
        time.sleep(0.2)
    time.sleep(seconds)


class Round:
    """The tools, on one fleet and one Orca, one measurement at a time."""

    def __init__(self, fleet: Fleet, orca: OrcaBench | None) -> None:
        self.fleet = fleet
        self.orca = orca
        self.ansible = Ansible(fleet)
        self.pools_empty = True  # Orca's workers have not connected anywhere yet

    def measure(self, tool: str, size: int) -> Sample:
        if tool.startswith("orca"):
            assert self.orca is not None
            if tool == "orca-cold" and not self.pools_empty:
                self.orca.restart_workers()
            sample = self.orca.run_job(orca_job(size), host_pids=self.fleet.pids())
            self.pools_empty = False
            return sample
        if tool == "openssh":
            return openssh(self.fleet, size)
        if tool == "openssh-c25519":
            return openssh(self.fleet, size, "curve25519-sha256")
        if tool == "pssh":
            return pssh(self.fleet, size)
        return self.ansible.run(size)

    def after(self, tool: str, tools: list[str]) -> None:
        """Clean up after `tool` unless its warm run comes next, on what it left."""
        if WARM_AFTER.get(tool) in tools:
            return
        if tool.startswith("orca") and self.orca is not None:
            self.orca.restart_workers()  # no idle pooled transport while the others run
            self.pools_empty = True
        if tool.startswith("ansible"):
            self.ansible.stop_masters()
        settle(self.fleet)


def run(sizes: list[int], runs: int, tools: list[str], workers: int) -> dict[str, Any]:
    results: dict[str, Any] = {"sizes": sizes, "runs": runs, "workers": workers, "by_size": {}}
    with Fleet(max(sizes), log=log) as fleet:
        orca = OrcaBench(workers) if any(t.startswith("orca") for t in tools) else None
        round_ = Round(fleet, orca)
        try:
            if orca is not None:
                orca.start()
                orca.add_fleet(fleet, sizes)
            for size in sizes:
                samples: dict[str, list[Sample]] = {tool: [] for tool in tools}
                for index in range(runs):
                    for tool in tools:
                        sample = round_.measure(tool, size)
                        samples[tool].append(sample)
                        log(
                            f"N={size} round {index + 1}/{runs} {tool}: {sample.wall:.2f} s wall, "
                            f"{sample.cpu:.2f} s CPU, {sample.host_cpu:.2f} s host CPU"
                        )
                        round_.after(tool, tools)
                results["by_size"][str(size)] = {
                    "tools": {tool: summarize(found) for tool, found in samples.items()},
                    "ratios": ratios(samples),
                }
                print_size(size, results["by_size"][str(size)])
        finally:
            round_.ansible.close()
            if orca is not None:
                results["feed_misses"] = orca.feed_misses
                orca.stop()
    return results


RATIOS = {
    "orca-cold / openssh": ("orca-cold", "openssh"),
    "orca-cold / openssh-c25519": ("orca-cold", "openssh-c25519"),
    "orca-warm / orca-cold": ("orca-warm", "orca-cold"),
    "ansible / orca-cold": ("ansible", "orca-cold"),
    "ansible-warm / orca-warm": ("ansible-warm", "orca-warm"),
    "orca-cold / pssh": ("orca-cold", "pssh"),
}


def ratios(
    samples: dict[str, list[Sample]], wanted: dict[str, tuple[str, str]] = RATIOS
) -> dict[str, float]:
    """Each ratio taken within a round (the two runs minutes apart at most), then the median."""
    out = {}
    for name, (top, bottom) in wanted.items():
        if samples.get(top) and samples.get(bottom):
            pairs = zip(samples[top], samples[bottom], strict=True)
            out[name] = round(median(a.wall / b.wall for a, b in pairs), 3)
    return out


def print_size(size: int, result: dict[str, Any]) -> None:
    print(f"\nN = {size}: median wall / CPU / host CPU seconds")
    for tool, summary in result["tools"].items():
        print(
            f"  {tool:16} {summary['wall']:8.2f} {summary['cpu']:8.2f} {summary['host_cpu']:8.2f}"
        )
    for name, value in result["ratios"].items():
        print(f"  {name:28} {value:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,50,200,500")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tools", default=",".join(TOOLS))
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    tools = [t for t in args.tools.split(",") if t]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools {sorted(unknown)}; choose from {', '.join(TOOLS)}")
    if "orca-warm" in tools and "orca-cold" not in tools:
        parser.error("orca-warm runs right after orca-cold: name both")
    if "ansible-warm" in tools and "ansible" not in tools:
        parser.error("ansible-warm runs right after ansible: name both")
    results = run(sizes, args.runs, tools, args.workers)
    write_result("fanout", results)


if __name__ == "__main__":
    main()
