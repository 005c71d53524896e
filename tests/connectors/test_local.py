"""The local connector: streamed output, a clean environment, and stops that leave nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path

import pytest

from app.connectors.base import ExecRequest, Target, Unsupported
from app.connectors.local import LocalConnector
from app.models.enums import OutputStream, Shell
from tests.fixtures.output import Collector

TARGET = Target(system_id="local", host="localhost", port=None)


async def _run(command: str, **kwargs: object) -> tuple[Collector, object]:
    sink = Collector()
    cancel = kwargs.pop("cancel", asyncio.Event())
    request = ExecRequest(command=command, **kwargs)  # type: ignore[arg-type]
    result = await LocalConnector().execute(TARGET, request, sink, cancel)  # type: ignore[arg-type]
    return sink, result


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()


async def test_a_job_working_directory() -> None:
    sink, result = await _run("pwd", cwd="/")
    assert (sink.text(OutputStream.stdout), getattr(result, "exit_code", None)) == ("/\n", 0)
    sink, result = await _run("pwd", cwd="/no/such dir")
    assert getattr(result, "exit_code", None) == 1 and sink.text(OutputStream.stdout) == ""
    assert "/no/such dir" in sink.text(OutputStream.stderr)


async def test_streams_stdout_and_stderr_apart_with_the_exit_code() -> None:
    sink, result = await _run("echo out; echo err >&2; exit 3")
    assert sink.text(OutputStream.stdout) == "out\n"
    assert sink.text(OutputStream.stderr) == "err\n"
    assert result.exit_code == 3 and not result.timed_out  # type: ignore[attr-defined]


async def test_output_arrives_while_the_command_runs() -> None:
    arrivals: list[float] = []
    started = time.monotonic()

    async def sink(stream: OutputStream, data: bytes) -> None:
        arrivals.append(time.monotonic() - started)

    request = ExecRequest(command="echo first; sleep 1; echo second")
    await LocalConnector().execute(TARGET, request, sink, asyncio.Event())
    assert len(arrivals) == 2 and arrivals[0] < 0.5 <= arrivals[1]


async def test_the_environment_is_clean_but_has_the_jobs_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCA_JWT_SECRET", "worker-secret-never-shown")
    sink, _ = await _run("env", env={"GREETING": "hello world"})
    environment = sink.text(OutputStream.stdout)
    assert "GREETING=hello world" in environment
    assert "ORCA_" not in environment and "worker-secret" not in environment


@pytest.mark.parametrize("stop", ["timeout", "cancel"])
async def test_a_stop_kills_the_whole_process_group(stop: str) -> None:
    command = "sleep 300 & echo $!; wait"
    cancel = asyncio.Event()
    if stop == "cancel":
        asyncio.get_running_loop().call_later(0.5, cancel.set)
    started = time.monotonic()
    sink, result = await _run(command, timeout=0.5 if stop == "timeout" else None, cancel=cancel)
    assert time.monotonic() - started < 4
    assert result.exit_code is None  # type: ignore[attr-defined]
    assert result.timed_out is (stop == "timeout")  # type: ignore[attr-defined]
    assert result.cancelled is (stop == "cancel")  # type: ignore[attr-defined]
    assert not _alive(int(sink.text(OutputStream.stdout)))


async def test_a_command_ignoring_term_is_killed_after_the_grace_period() -> None:
    class Quick(LocalConnector):
        grace_seconds = 0.5

    sink = Collector()
    command = "sh -c 'trap \"\" TERM; echo $$; sleep 300' & wait"
    started = time.monotonic()
    result = await Quick().execute(
        TARGET, ExecRequest(command=command, timeout=0.5), sink, asyncio.Event()
    )
    assert result.timed_out and time.monotonic() - started < 4
    assert not _alive(int(sink.text(OutputStream.stdout)))


async def test_a_cancel_before_the_start_runs_nothing() -> None:
    cancel = asyncio.Event()
    cancel.set()
    sink, result = await _run("echo should-not-run", cancel=cancel)
    assert result.cancelled and sink.chunks == []  # type: ignore[attr-defined]


@pytest.mark.skipif(os.geteuid() != 0, reason="switching accounts needs root")
async def test_as_root_commands_run_as_an_unprivileged_account(tmp_path: Path) -> None:
    """Commands cannot read the worker's secrets: not its environment, not its files."""
    secret_file = tmp_path / "secrets.json"
    secret_file.write_text("the keys")
    secret_file.chmod(0o600)
    sink, _ = await _run(
        f"id -un; cat /proc/{os.getpid()}/environ >/dev/null 2>&1 && echo environ-readable; "
        f"cat {secret_file} 2>/dev/null || echo secrets-unreadable"
    )
    lines = sink.text(OutputStream.stdout).split()
    assert lines == ["orca-local", "secrets-unreadable"]


async def test_large_output_arrives_whole() -> None:
    digest = hashlib.sha256()
    total = 0

    async def sink(stream: OutputStream, data: bytes) -> None:
        nonlocal total
        assert len(data) <= 64 * 1024
        digest.update(data)
        total += len(data)

    command = "head -c 20000000 /dev/zero | tr '\\0' 'x'"
    result = await LocalConnector().execute(
        TARGET, ExecRequest(command=command), sink, asyncio.Event()
    )
    assert result.exit_code == 0 and total == 20_000_000
    assert digest.hexdigest() == hashlib.sha256(b"x" * 20_000_000).hexdigest()


async def test_other_shells_are_refused() -> None:
    with pytest.raises(Unsupported, match="sh or bash"):
        await _run("dir", shell=Shell.cmd)


async def test_check_reports_latency() -> None:
    result = await LocalConnector().check(TARGET)
    assert 0 < result.latency_ms < 5000
