"""The connector protocol: how Orca reaches a system, whatever carries the bytes.

A connector checks that a system answers, and executes one request on it, streaming stdout
and stderr to a sink as they are produced, honouring a cancel event and the request's timeout
(by stopping the remote process, not only the channel), and returning the exit code and
timings. Connectors receive plain values (`Target`, `ExecRequest`), never a database session.

Every failure leaves a connector as one of these, so the engine and the API can say what went
wrong without knowing the library underneath:

    ConnectorError            protocol: the other side spoke, but not as expected
    ├── Unreachable           dns, refused, timeout (connecting), network
    │   └── CircuitOpen       recent failures: not even tried, for a while
    ├── AuthFailed            credentials refused
    ├── HostKeyError          the host's identity could not be trusted
    │   ├── HostKeyUnknown    no key pinned yet: scan and trust first
    │   └── HostKeyMismatch   the key changed (names expected and found fingerprints)
    ├── TLSError              the host's TLS certificate was refused (untrusted, wrong name,
    │                         expired) or the TLS handshake failed
    └── Unsupported           this connector cannot run that (a shell it lacks)

A command that runs and exits non-zero is not an error: it is a result with that exit code.
An error raised before the command could start says so (`started=False`); the engine retries
only those, and only for jobs that asked for retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from app.models.enums import OutputStream, Shell


class ConnectorError(Exception):
    category = "protocol"

    def __init__(self, message: str, *, reason: str | None = None, started: bool = True) -> None:
        super().__init__(message)
        self.message = message
        # A finer cause inside the category ("dns", "refused", "timeout" for Unreachable).
        self.reason = reason or self.category
        # Whether the command may have started. A connector sets False only when it knows the
        # command did not (it failed connecting or authenticating): only then is a retry safe.
        self.started = started


class Unreachable(ConnectorError):
    category = "unreachable"


class CircuitOpen(Unreachable):
    category = "circuit_open"


class AuthFailed(ConnectorError):
    category = "auth"


class HostKeyError(ConnectorError):
    category = "host_key"


class HostKeyUnknown(HostKeyError):
    pass


class HostKeyMismatch(HostKeyError):
    def __init__(self, expected: str, found: str) -> None:
        super().__init__(
            f"host key mismatch: expected {expected}, found {found}; if the host was "
            "rebuilt, scan and trust its new key",
            reason="mismatch",
        )
        self.expected = expected
        self.found = found


class TLSError(ConnectorError):
    category = "tls"


class Unsupported(ConnectorError):
    category = "unsupported"


@dataclass(frozen=True)
class Target:
    """Where and as whom. `secret` holds the decrypted credential fields, only in memory."""

    system_id: str
    host: str
    port: int | None
    username: str | None = None
    secret: dict[str, str] = field(default_factory=dict, repr=False)
    options: dict[str, Any] = field(default_factory=dict)
    host_key: str | None = None  # the pinned key, "<type> <base64>"


@dataclass(frozen=True)
class ExecRequest:
    command: str
    shell: Shell = Shell.sh
    env: dict[str, str] = field(default_factory=dict, repr=False)  # may carry a job's secrets
    timeout: float | None = None  # seconds; None: no limit
    cwd: str | None = None  # where the command starts; None: the connector's default


class MarkerLine:
    """The line `<marker><number>` a remote wrapper prints first on stdout to report the id of
    the process (group) to kill later. It is looked for in the first 8 KiB (login scripts may
    print before it) and taken out; `value` is set and `known` fires once it is found, or once
    looking gives up. `feed` returns what the user's stdout gets now. Used from pool threads."""

    HEAD_LIMIT = 8192

    def __init__(self, marker: bytes | None) -> None:
        self.marker = marker
        self.value: int | None = None
        self.known = threading.Event()
        self._head = b""
        if marker is None:
            self.known.set()

    def feed(self, data: bytes) -> bytes:
        if self.known.is_set():
            return data
        assert self.marker is not None
        self._head += data
        at = self._head.find(self.marker)
        if at >= 0 and b"\n" in self._head[at:]:
            before, rest = self._head[:at], self._head[at + len(self.marker) :]
            line, _, rest = rest.partition(b"\n")
            with contextlib.suppress(ValueError):
                self.value = int(line.strip())
            self._head = b""
            self.known.set()
            return before + rest
        return self.flush() if len(self._head) > self.HEAD_LIMIT else b""

    def flush(self) -> bytes:
        """Stop looking; what was held back."""
        head, self._head = self._head, b""
        self.known.set()
        return head


def deliver_from_thread(
    loop: asyncio.AbstractEventLoop, sink: OutputSink, stream: OutputStream, data: bytes
) -> None:
    """Hand output from a pool thread to the async sink and wait until it took it (so a slow
    sink slows the reading thread: bounded memory)."""
    if data:

        async def send() -> None:
            await sink(stream, data)

        asyncio.run_coroutine_threadsafe(send(), loop).result()


def in_directory(command: str, cwd: str | None) -> str:
    """A POSIX shell command that first moves to `cwd`, failing (exit 1, the shell's message on
    stderr) when it cannot."""
    if not cwd:
        return command
    return f"cd -- {shlex.quote(cwd)} || exit 1\n{command}"


@dataclass(frozen=True)
class ExecResult:
    exit_code: int | None  # None when the process was stopped (timeout, cancel) or vanished
    started_at: datetime
    finished_at: datetime
    timed_out: bool = False
    cancelled: bool = False
    signal: str | None = None


@dataclass(frozen=True)
class CheckResult:
    latency_ms: float
    detail: str = ""


@dataclass(frozen=True)
class ConnectorStats:
    """What a connector holds now, for the worker's metrics: open pooled connections and the
    systems whose circuit is open, both by system id."""

    pooled: dict[str, int] = field(default_factory=dict)
    open_circuits: frozenset[str] = frozenset()


# Receives each chunk as it arrives; awaited, so a slow consumer slows the producer (bounded
# memory whatever the output size).
OutputSink = Callable[[OutputStream, bytes], Awaitable[None]]


@runtime_checkable
class Connector(Protocol):
    name: ClassVar[str]
    # Validates a system's `options` for this connector (extra keys refused).
    options_schema: ClassVar[type[BaseModel]]
    shells: ClassVar[frozenset[Shell]]
    # Optional, for the systems API:
    # credential_kinds: ClassVar[frozenset[CredentialKind]]  the credentials it takes (any)
    # kinds: ClassVar[frozenset[SystemKind]]                 the systems it reaches (any)
    # default_port: ClassVar[int | None]                     its port when none is given
    # port_for(options) -> int                               ... when it depends on options
    # credential_problem(options, kind) -> str | None        a credential wrong for options
    # insecure_settings(options) -> list[str]                options that weaken security
    #                                                        (audited when turned on)
    # stats() -> ConnectorStats                              pooled connections and open
    #                                                        circuits (worker metrics)

    async def check(self, target: Target) -> CheckResult:
        """Connect, authenticate and run a trivial command; raise a ConnectorError if not."""
        ...

    async def execute(
        self, target: Target, request: ExecRequest, sink: OutputSink, cancel: asyncio.Event
    ) -> ExecResult:
        """Run `request` on `target`, streaming output to `sink` until it ends, the timeout
        passes or `cancel` is set (then stop the remote process and return)."""
        ...

    async def close(self) -> None:
        """Release pooled connections and threads."""
        ...


class NoOptions(BaseModel):
    model_config = {"extra": "forbid"}


async def first_outcome(
    reader: asyncio.Future[None], cancel: asyncio.Event, limit: float | None
) -> str:
    """Wait for whichever comes first: the command's end (`reader`, re-raising its failure),
    a cancel, or the timeout. Returns "exited", "cancelled" or "timed_out"."""
    cancelled: asyncio.Future[Any] = asyncio.ensure_future(cancel.wait())
    waiting: set[asyncio.Future[Any]] = {reader, cancelled}
    try:
        done, _ = await asyncio.wait(waiting, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
    finally:
        cancelled.cancel()
    if reader in done:
        reader.result()
        return "exited"
    return "cancelled" if cancelled in done else "timed_out"
