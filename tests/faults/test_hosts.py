"""Hosts that misbehave mid-job: one that freezes mid-output, one whose TCP connection is reset,
one slow to accept, one whose sshd is killed while the command runs. Each execution ends in the
state that tells the truth, within its timeout, and the worker goes on working."""

from __future__ import annotations

import secrets
import shutil
import signal
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from tests.fixtures.fleet import Fleet
from tests.fixtures.orca_up import OrcaUp
from tests.fixtures.processes import wait_for
from tests.fixtures.proxy import FaultyProxy
from tests.fixtures.sshd import SshServer, start_sshd

pytestmark = pytest.mark.slow

PRINTS_THEN_WAITS = "echo started; sleep 60; echo never"


@pytest.fixture
def proxies() -> Iterator[list[FaultyProxy]]:
    made: list[FaultyProxy] = []
    yield made
    for proxy in made:
        proxy.close()


def _system(orca: OrcaUp, port: int, host_key: str, **options: Any) -> str:
    name = f"odd-{secrets.token_hex(4)}"
    orca.post(
        "/systems",
        {
            "name": name,
            "host": "127.0.0.1",
            "port": port,
            "credential_id": orca.credential_id,
            "host_key": host_key,
            "options": options,
        },
    )
    return name


def _run(orca: OrcaUp, name: str, command: str, timeout: int) -> tuple[dict[str, Any], float]:
    """Submit `command` on one system; its execution once started, and when it was sent."""
    sent = time.monotonic()
    job = orca.post(
        "/jobs",
        {"command": command, "targets": {"systems": [name]}, "timeout_seconds": timeout},
    )
    return job, sent


def _output_seen(orca: OrcaUp, job_id: str) -> dict[str, Any]:
    def printed() -> dict[str, Any] | None:
        (execution,) = orca.executions(job_id)
        return execution if execution["output"]["seq"] > 0 else None

    found: dict[str, Any] = wait_for(printed, 30, "the command's first output")
    return found


def _ended(orca: OrcaUp, job_id: str, timeout: float) -> tuple[dict[str, Any], float]:
    orca.wait_job(job_id, timeout)
    (execution,) = orca.executions(job_id)
    return execution, time.monotonic()


def test_a_host_frozen_mid_output_times_out(
    orca: OrcaUp, fleet: Fleet, proxies: list[FaultyProxy]
) -> None:
    server = fleet.servers[-1]
    proxy = FaultyProxy(server.port)
    proxies.append(proxy)
    name = _system(orca, proxy.port, server.host_key_line, connect_timeout=3)
    job, _ = _run(orca, name, PRINTS_THEN_WAITS, timeout=5)
    _output_seen(orca, job["id"])
    proxy.freeze()
    frozen_at = time.monotonic()
    execution, ended_at = _ended(orca, job["id"], 60)
    assert execution["status"] == "timed_out", execution
    assert execution["error"]["code"] == "timeout"
    assert orca.output(execution["id"]) == "started\n"
    # The job's timeout (5 s), then one try to tell the host over its connection (5 s) and one
    # to reach it afresh (its connect timeout, 3 s): nothing waits longer for a silent host.
    assert ended_at - frozen_at < 5 + 5 + 3 + 3, ended_at - frozen_at
    print(f"frozen host: timed_out {ended_at - frozen_at:.1f}s after it froze (timeout 5s)")


def test_reset_connections_are_errors_at_once(
    orca: OrcaUp, fleet: Fleet, proxies: list[FaultyProxy]
) -> None:
    # Ten at once: paramiko closes a dead connection's channels a moment before it says the
    # connection is down, and an execution read in that moment once ended "failed".
    servers = fleet.servers[-20:-10]
    proxies.extend(FaultyProxy(server.port) for server in servers)
    names = [
        _system(orca, proxy.port, server.host_key_line)
        for proxy, server in zip(proxies, servers, strict=True)
    ]
    job = orca.post(
        "/jobs",
        {"command": PRINTS_THEN_WAITS, "targets": {"systems": names}, "timeout_seconds": 120},
    )

    def all_printed() -> bool:
        return all(e["output"]["seq"] > 0 for e in orca.executions(job["id"]))

    wait_for(all_printed, 30, "every command's first output")
    for proxy in proxies:
        proxy.reset()
    reset_at = time.monotonic()
    orca.wait_job(job["id"], 60)
    ended_at = time.monotonic()
    for execution in orca.executions(job["id"]):
        assert execution["status"] == "error", {
            k: execution[k] for k in ("exit_code", "signal", "error")
        }
        assert execution["error"]["code"] == "unreachable", execution["error"]
        assert "outcome is unknown" in execution["error"]["message"]
    assert ended_at - reset_at < 10, ended_at - reset_at
    print(f"10 reset connections: all error within {ended_at - reset_at:.1f}s of the reset")


@pytest.mark.parametrize(("delay", "expected"), [(1.5, "succeeded"), (6.0, "error")])
def test_a_host_slow_to_accept(
    orca: OrcaUp, fleet: Fleet, proxies: list[FaultyProxy], delay: float, expected: str
) -> None:
    server = fleet.servers[-3]
    proxy = FaultyProxy(server.port, accept_delay=delay)
    proxies.append(proxy)
    name = _system(orca, proxy.port, server.host_key_line, connect_timeout=3)
    job, sent = _run(orca, name, "echo hello", timeout=60)
    execution, ended_at = _ended(orca, job["id"], 60)
    assert execution["status"] == expected, execution
    if expected == "succeeded":
        assert orca.output(execution["id"]) == "hello\n"
    else:
        # Given up after the connect timeout (3 s), not the host's delay; nothing ran.
        assert execution["error"]["code"] == "unreachable", execution["error"]
        assert "no SSH handshake" in execution["error"]["message"], execution["error"]
        assert ended_at - sent < 3 + 4, ended_at - sent
    print(f"accepting after {delay}s: {expected} {ended_at - sent:.1f}s after submission")


def test_a_host_whose_sshd_is_killed_while_running(orca: OrcaUp, fleet: Fleet) -> None:
    assert fleet.account is not None
    server: SshServer = start_sshd(fleet.account)
    try:
        name = _system(orca, server.port, server.host_key_line)
        job, _ = _run(orca, name, PRINTS_THEN_WAITS, timeout=120)
        _output_seen(orca, job["id"])
        tree = [server.process.pid] + [
            child.pid for child in psutil.Process(server.process.pid).children(recursive=True)
        ]
        for pid in tree:
            try:
                psutil.Process(pid).send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        killed_at = time.monotonic()
        execution, ended_at = _ended(orca, job["id"], 60)
        assert execution["status"] == "error", {
            k: execution[k] for k in ("exit_code", "signal", "error", "output")
        }
        assert execution["error"]["code"] == "unreachable", execution["error"]
        assert ended_at - killed_at < 10, ended_at - killed_at
        print(f"sshd killed: error {ended_at - killed_at:.1f}s later")
        # The pool does not hand out the dead connection: the next job says it cannot connect.
        again, _ = _run(orca, name, "echo hello", timeout=30)
        second, _ = _ended(orca, again["id"], 60)
        assert second["status"] == "error" and second["error"]["code"] == "unreachable"
        assert "refused" in second["error"]["message"], second["error"]
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)
