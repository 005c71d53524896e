"""The local connector: runs commands on the worker's own host.

A demo target and a fast path for tests and benchmarks. Each command runs in its own session
(process group), so a timeout or cancel stops everything it started: TERM to the group, then
KILL after a grace period.

The worker holds Orca's secrets (the encryption keys, the database password), and a process
of the worker's own account can read them (its environment, its files). So when the worker
runs as root, commands run as a separate unprivileged account, `orca-local` by default
(created when missing); otherwise they run as the worker's account, and only admins should
be given local systems. Either way a command gets a clean environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel

from app.connectors.base import (
    CheckResult,
    ExecRequest,
    ExecResult,
    NoOptions,
    OutputSink,
    Target,
    Unsupported,
    in_directory,
)
from app.models.enums import CredentialKind, OutputStream, Shell, SystemKind

CHUNK = 64 * 1024
_SHELLS = {Shell.sh: "/bin/sh", Shell.bash: "/bin/bash"}


LOCAL_USER = "orca-local"


@dataclass(frozen=True)
class Account:
    name: str
    uid: int | None  # None: the worker's own account, no switch
    gid: int | None
    home: str


def resolve_account(run_as: str | None) -> Account:
    """The account commands run as (see the module docstring)."""
    if run_as in (None, "") and os.geteuid() == 0:
        run_as = LOCAL_USER
    if run_as in (None, "", "self"):
        entry = pwd.getpwuid(os.geteuid())
        return Account(entry.pw_name, None, None, entry.pw_dir)
    assert run_as is not None
    try:
        entry = pwd.getpwnam(run_as)
    except KeyError:
        if run_as != LOCAL_USER or os.geteuid() != 0:
            raise Unsupported(f"the local connector's account {run_as!r} does not exist") from None
        subprocess.run(
            [
                "useradd",
                "--system",
                "--create-home",
                "--home-dir",
                f"/var/lib/{LOCAL_USER}",
                "--shell",
                "/bin/sh",
                LOCAL_USER,
            ],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(run_as)
    if entry.pw_uid == os.geteuid():
        return Account(entry.pw_name, None, None, entry.pw_dir)
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def clean_environment(account: Account, extra: dict[str, str]) -> dict[str, str]:
    """What a command sees: a plain login-like environment and the job's own variables."""
    base = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "HOME": account.home,
        "USER": account.name,
        "LOGNAME": account.name,
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
    kinds: ClassVar[frozenset[SystemKind]] = frozenset({SystemKind.linux})
    default_port: ClassVar[int | None] = None
    # Seconds between TERM and KILL when a command is stopped.
    grace_seconds: ClassVar[float] = 5.0

    def __init__(self, run_as: str | None = None) -> None:
        self._run_as = run_as
        self._account: Account | None = None

    def _spawn_options(self) -> dict[str, Any]:
        if self._account is None:
            self._account = resolve_account(self._run_as)
        account = self._account
        options: dict[str, Any] = {"start_new_session": True, "cwd": account.home}
        if account.uid is not None:
            options.update(user=account.uid, group=account.gid, extra_groups=[])
        if not os.path.isdir(account.home):
            options["cwd"] = "/"
        return options

    async def check(self, target: Target) -> CheckResult:
        started = time.perf_counter()
        options = self._spawn_options()
        assert self._account is not None
        process = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", "true", env=clean_environment(self._account, {}), **options
        )
        await process.wait()
        return CheckResult(latency_ms=(time.perf_counter() - started) * 1000)

    async def execute(
        self, target: Target, request: ExecRequest, sink: OutputSink, cancel: asyncio.Event
    ) -> ExecResult:
        if request.shell not in _SHELLS:
            raise Unsupported(f"the local connector runs sh or bash, not {request.shell.value}")
        options = self._spawn_options()
        assert self._account is not None
        started = datetime.now(UTC)
        if cancel.is_set():
            return ExecResult(None, started, datetime.now(UTC), cancelled=True)
        process = await asyncio.create_subprocess_exec(
            _SHELLS[request.shell],
            "-c",
            in_directory(request.command, request.cwd),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=clean_environment(self._account, request.env),
            **options,
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
