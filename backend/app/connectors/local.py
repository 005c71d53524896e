"""The local connector: runs commands on the worker's own host, as the worker's user.

A demo target and a fast path for tests and benchmarks. Each command runs in its own session
(process group), so a timeout or cancel stops everything it started: TERM to the group, then
KILL after a grace period. The command gets a clean environment: the worker's own holds
Orca's secrets (database URL, keys), which a job must never see.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel

from app.connectors.base import (
    CheckResult,
    ExecRequest,
    ExecResult,
    NoOptions,
    OutputSink,
    Target,
    Unsupported,
)
from app.models.enums import CredentialKind, OutputStream, Shell

CHUNK = 64 * 1024
_SHELLS = {Shell.sh: "/bin/sh", Shell.bash: "/bin/bash"}


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    """What a command sees: a plain login-like environment and the job's own variables."""
    base = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/"),
        "USER": os.environ.get("USER", ""),
        "TERM": "dumb",
    }
    return {**base, **extra}


def signal_name(returncode: int | None) -> str | None:
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


class LocalConnector:
    name: ClassVar[str] = "local"
    options_schema: ClassVar[type[BaseModel]] = NoOptions
    shells: ClassVar[frozenset[Shell]] = frozenset(_SHELLS)
    credential_kinds: ClassVar[frozenset[CredentialKind]] = frozenset()  # runs as the worker
    default_port: ClassVar[int | None] = None
    # Seconds between TERM and KILL when a command is stopped.
    grace_seconds: ClassVar[float] = 5.0

    async def check(self, target: Target) -> CheckResult:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", "true", env=clean_environment({}), start_new_session=True
        )
        await process.wait()
        return CheckResult(latency_ms=(time.perf_counter() - started) * 1000)

    async def execute(
        self, target: Target, request: ExecRequest, sink: OutputSink, cancel: asyncio.Event
    ) -> ExecResult:
        if request.shell not in _SHELLS:
            raise Unsupported(f"the local connector runs sh or bash, not {request.shell.value}")
        started = datetime.now(UTC)
        process = await asyncio.create_subprocess_exec(
            _SHELLS[request.shell],
            "-c",
            request.command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=clean_environment(request.env),
            start_new_session=True,
        )
        assert process.stdout is not None and process.stderr is not None
        readers = [
            asyncio.create_task(_pump(process.stdout, OutputStream.stdout, sink)),
            asyncio.create_task(_pump(process.stderr, OutputStream.stderr, sink)),
        ]
        outcome = await _wait(process, cancel, request.timeout)
        if outcome != "exited":
            await _stop_group(process, self.grace_seconds)
        # Output already produced is delivered; a descendant that left the process group and
        # holds the pipes open cannot keep us waiting for ever.
        _, pending = await asyncio.wait(readers, timeout=self.grace_seconds)
        for reader in pending:
            reader.cancel()
        for reader in readers:
            if not reader.cancelled() and reader.exception() is not None:
                raise reader.exception()  # type: ignore[misc]
        return ExecResult(
            exit_code=process.returncode if outcome == "exited" else None,
            started_at=started,
            finished_at=datetime.now(UTC),
            timed_out=outcome == "timed_out",
            cancelled=outcome == "cancelled",
            signal=signal_name(process.returncode),
        )

    async def close(self) -> None:
        return None


async def _pump(stream: asyncio.StreamReader, name: OutputStream, sink: OutputSink) -> None:
    while chunk := await stream.read(CHUNK):
        await sink(name, chunk)


async def _wait(
    process: asyncio.subprocess.Process, cancel: asyncio.Event, limit: float | None
) -> str:
    """Which comes first: "exited", "cancelled" or "timed_out" (after `limit` seconds)."""
    exited = asyncio.create_task(process.wait())
    cancelled = asyncio.create_task(cancel.wait())
    try:
        done, _ = await asyncio.wait(
            {exited, cancelled}, timeout=limit, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        cancelled.cancel()
    if exited in done:
        return "exited"
    exited.cancel()
    return "cancelled" if cancelled in done else "timed_out"


def _signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to the process group; False when no process of it is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


async def _stop_group(process: asyncio.subprocess.Process, grace: float) -> None:
    """TERM the command's whole process group; KILL whatever of it outlives the grace period
    (the command and everything it started, not only the shell)."""
    pgid = process.pid
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), timeout=0.05)
        if process.returncode is not None and not _signal_group(pgid, 0):
            return
        await asyncio.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)
    await process.wait()
