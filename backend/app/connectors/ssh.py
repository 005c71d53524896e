"""The SSH connector (paramiko), built to be trusted in production.

- **Host keys are pinned.** A system connects only if the server shows exactly the key stored
  for it; with none stored the connection is refused (`HostKeyUnknown`) until a user who
  manages the system scans and trusts it. There is no auto-add anywhere.
- **Transports are pooled** per system and credential and reused across executions and jobs:
  a cap on sessions per transport, keepalives, a liveness check before reuse, idle expiry.
- **A circuit breaker** per system: after `breaker_threshold` consecutive connection failures,
  further attempts fail fast (`CircuitOpen`) for `breaker_seconds`.
- **Stopping kills the remote process group.** sshd starts every command as the leader of a new
  session, so the command's first act is to report its process group id (a marker line taken
  out of stdout); a timeout or cancel signals that group TERM, then KILL after a grace period,
  over a second channel.
- **paramiko blocks** where it waits for the server: connecting and opening a channel run in
  this connector's bounded thread pool (one hop per execution). Output is read on the event loop:
  paramiko's reader thread wakes it through the channel's buffer events, and reading what is
  already buffered never waits for the network. The channel's window is only reopened as the
  sink takes each chunk, so a slow sink slows the server: bounded memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import re
import secrets
import shlex
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import paramiko
from pydantic import BaseModel, Field, ValidationError

from app.connectors.base import (
    AuthFailed,
    CheckResult,
    CircuitOpen,
    ConnectorError,
    ConnectorStats,
    ExecRequest,
    ExecResult,
    HostKeyMismatch,
    HostKeyUnknown,
    MarkerLine,
    OutputSink,
    Target,
    Unreachable,
    Unsupported,
    first_outcome,
    in_directory,
)
from app.connectors.ssh_keys import KeyProblem, fingerprint, load_private_key, parse_public_key
from app.models.enums import CredentialKind, OutputStream, Shell, SystemKind

T = TypeVar("T")
# paramiko logs every failed handshake with a traceback at ERROR; each failure reaches the
# caller as one of our errors instead, so its own log is kept for what it considers critical.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)
log = logging.getLogger("orca.connectors.ssh")
CHUNK = 64 * 1024
_SHELLS = {Shell.sh: "/bin/sh", Shell.bash: "/bin/bash"}
# Fast, modern choices first (curve25519 costs a fraction of the post-quantum default).
_KEX = ("curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
IDLE_POLL_SECONDS = 1.0


class SSHOptions(BaseModel):
    model_config = {"extra": "forbid"}

    connect_timeout: float = Field(10.0, gt=0, le=120, description="Seconds to connect.")
    keepalive_seconds: int = Field(15, ge=0, le=3600, description="0 turns keepalives off.")
    jump_host: str | None = Field(None, max_length=255, description="A bastion to go through.")
    jump_port: int = Field(22, ge=1, le=65535)
    jump_username: str | None = Field(None, max_length=200, description="Default: the system's.")
    jump_host_key: str | None = Field(
        None, max_length=20000, description="The bastion's public key, pinned (required)."
    )


def map_error(exc: BaseException, *, connecting: bool = True) -> ConnectorError:
    """Every exception paramiko and the socket layer raise, as one of ours."""
    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, socket.gaierror):
        return Unreachable(f"cannot resolve the host name ({exc.strerror})", reason="dns")
    if isinstance(exc, ConnectionRefusedError):
        return Unreachable("connection refused", reason="refused")
    if isinstance(exc, TimeoutError | socket.timeout):
        return Unreachable("timed out connecting", reason="timeout")
    if isinstance(exc, paramiko.BadAuthenticationType):
        return AuthFailed(
            f"the server does not accept this kind of credential ({exc.allowed_types})"
        )
    if isinstance(exc, paramiko.PasswordRequiredException):
        return AuthFailed("the private key needs its passphrase")
    if isinstance(exc, paramiko.AuthenticationException):
        return AuthFailed("authentication failed")
    if isinstance(exc, paramiko.ChannelException):
        return ConnectorError(f"the server refused a channel ({exc.text})")
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return Unreachable("no address of the host accepted the connection", reason="refused")
    if isinstance(exc, paramiko.SSHException | EOFError):
        message = str(exc) or type(exc).__name__
        lowered = message.lower()
        if connecting and any(
            hint in lowered for hint in ("banner", "no existing session", "timed out", "eof")
        ):
            # It took the TCP connection but never completed an SSH handshake.
            return Unreachable(
                f"no SSH handshake: not an SSH server, overloaded, or it hung up ({message})",
                reason="protocol",
            )
        return ConnectorError(f"SSH protocol error: {message}")
    if isinstance(exc, ConnectionError | OSError):
        return Unreachable(
            f"network error ({exc.strerror or type(exc).__name__})", reason="network"
        )
    return ConnectorError(f"unexpected error: {type(exc).__name__}")


def _options(target: Target) -> SSHOptions:
    try:
        return SSHOptions.model_validate(target.options)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConnectorError(
            f"the system's ssh options are invalid ({where}: {first['msg']})"
        ) from None


def _host_key_algorithms(key_type: str) -> tuple[str, ...]:
    """The host key algorithms that make a server show a key of `key_type`."""
    if key_type == "ssh-rsa":
        return ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
    return (key_type,)


def _credential_id(target: Target) -> str:
    """Pool key part for the credential: a digest, never the secret itself."""
    material = "\x00".join(f"{k}={v}" for k, v in sorted(target.secret.items()))
    return hashlib.sha256(f"{target.username}\x00{material}".encode()).hexdigest()[:16]


@dataclass
class _Pooled:
    transport: paramiko.Transport
    jump: paramiko.Transport | None
    sessions: int = 0
    last_used: float = field(default_factory=time.monotonic)
    # Out of the pool (dead, or idle too long): closed when its last session ends.
    retired: bool = False
    # Open, but it stopped answering (a frozen host, a silent network): never handed out again.
    unresponsive: bool = False

    def alive(self) -> bool:
        return (
            not self.unresponsive
            and self.transport.is_active()
            and self.transport.is_authenticated()
        )

    def close(self) -> None:
        self.transport.close()
        if self.jump is not None:
            self.jump.close()


@dataclass
class _Breaker:
    failures: int = 0
    open_until: float = 0.0
    last_error: str = ""


class SSHConnector:
    name: ClassVar[str] = "ssh"
    options_schema: ClassVar[type[BaseModel]] = SSHOptions
    shells: ClassVar[frozenset[Shell]] = frozenset(_SHELLS)
    credential_kinds: ClassVar[frozenset[CredentialKind]] = frozenset(
        {CredentialKind.ssh_password, CredentialKind.ssh_key}
    )
    kinds: ClassVar[frozenset[SystemKind]] = frozenset({SystemKind.linux})
    default_port: ClassVar[int | None] = 22

    grace_seconds: ClassVar[float] = 5.0
    # OpenSSH allows 10 sessions per connection by default; stopping a command needs one more
    # channel for a moment, so keep some free.
    max_sessions_per_transport: ClassVar[int] = 6
    idle_seconds: ClassVar[float] = 120.0
    breaker_threshold: ClassVar[int] = 5
    breaker_seconds: ClassVar[float] = 30.0

    def __init__(self, max_threads: int = 256) -> None:
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_threads, thread_name_prefix="orca-ssh"
        )
        self._lock = threading.Lock()
        self._pool: dict[tuple[str, ...], list[_Pooled]] = {}
        self._breakers: dict[str, _Breaker] = {}
        self._connecting: dict[tuple[str, ...], threading.Lock] = {}
        self._keys: dict[str, paramiko.PKey] = {}  # parsed once: RSA parsing is costly
        # Stopping and cleaning up never wait behind the threads pumping output.
        self._control = concurrent.futures.ThreadPoolExecutor(
            max_workers=16, thread_name_prefix="orca-ssh-control"
        )
        self._last_reap = time.monotonic()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)

    async def _control_run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._control, fn, *args)

    # -- host keys -------------------------------------------------------------------------

    async def scan_host_key(self, target: Target) -> tuple[str, str]:
        """Connect without authenticating and return the server's key and fingerprint. Used by
        "scan and trust"; trusting is the caller's explicit next step."""
        return await self._run(self._scan, target, _options(target))

    def _scan(self, target: Target, options: SSHOptions) -> tuple[str, str]:
        try:
            jump = self._jump(target, options)
            transport = self._start(target.host, target.port or 22, options, jump)
            try:
                key = transport.get_remote_server_key()
                return f"{key.get_name()} {key.get_base64()}", fingerprint(key)
            finally:
                transport.close()
                if jump is not None:
                    jump.close()
        except Exception as exc:
            raise map_error(exc) from None

    def _start(
        self,
        host: str,
        port: int,
        options: SSHOptions,
        jump: paramiko.Transport | None,
        pinned: str | None = None,
    ) -> paramiko.Transport:
        if jump is not None:
            sock: Any = jump.open_channel(
                "direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=options.connect_timeout
            )
        else:
            sock = socket.create_connection((host, port), timeout=options.connect_timeout)
        transport = paramiko.Transport(sock)
        transport.banner_timeout = options.connect_timeout
        transport.handshake_timeout = options.connect_timeout
        security = transport.get_security_options()
        security.kex = tuple(k for k in _KEX if k in security.kex) + tuple(
            k for k in security.kex if k not in _KEX
        )
        if pinned:
            # Ask for the pinned key's type: a host with several keys (ed25519 and RSA, say)
            # would otherwise show its preferred one and look changed.
            wanted = _host_key_algorithms(pinned.split()[0])
            offered = tuple(a for a in wanted if a in security.key_types)
            if offered:
                security.key_types = offered
        transport.start_client(timeout=options.connect_timeout)
        return transport

    @staticmethod
    def _verify(transport: paramiko.Transport, pinned: str | None) -> None:
        found = transport.get_remote_server_key()
        found_line = f"{found.get_name()} {found.get_base64()}"
        if pinned is None:
            raise HostKeyUnknown(
                f"no host key is pinned for this system; the server shows {fingerprint(found)}: "
                "scan and trust it first",
                reason="unknown",
            )
        try:
            expected_line, expected_fingerprint = parse_public_key(pinned)
        except KeyProblem:
            raise HostKeyUnknown("the pinned host key is unreadable", reason="unknown") from None
        if expected_line != found_line:
            raise HostKeyMismatch(expected_fingerprint, fingerprint(found))

    # -- connecting and the pool -------------------------------------------------------------

    def _private_key(self, target: Target) -> paramiko.PKey:
        pem = target.secret["private_key"]
        cache_key = hashlib.sha256(
            f"{pem}\x00{target.secret.get('passphrase', '')}".encode()
        ).hexdigest()
        with self._lock:
            cached = self._keys.get(cache_key)
        if cached is None:
            try:
                cached = load_private_key(pem, target.secret.get("passphrase"))
            except KeyProblem as exc:
                raise AuthFailed(f"the credential's key cannot be used: {exc}") from None
            with self._lock:
                self._keys[cache_key] = cached
        return cached

    def _authenticate(self, transport: paramiko.Transport, target: Target, username: str) -> None:
        if "private_key" in target.secret:
            transport.auth_publickey(username, self._private_key(target))
        elif "password" in target.secret:
            transport.auth_password(username, target.secret["password"])
        else:
            raise AuthFailed("the system has no SSH credential")

    def _jump(self, target: Target, options: SSHOptions) -> paramiko.Transport | None:
        if not options.jump_host:
            return None
        jump = self._start(
            options.jump_host, options.jump_port, options, None, options.jump_host_key
        )
        try:
            self._verify(jump, options.jump_host_key)
            self._authenticate(jump, target, options.jump_username or target.username or "")
        except BaseException:
            jump.close()
            raise
        return jump

    def _connect(self, target: Target, options: SSHOptions) -> _Pooled:
        jump = self._jump(target, options)
        try:
            transport = self._start(target.host, target.port or 22, options, jump, target.host_key)
            try:
                self._verify(transport, target.host_key)
                self._authenticate(transport, target, target.username or "")
            except BaseException:
                transport.close()
                raise
        except BaseException:
            if jump is not None:
                jump.close()
            raise
        if options.keepalive_seconds:
            transport.set_keepalive(options.keepalive_seconds)
        _quiet_when_idle(transport)
        if jump is not None:
            _quiet_when_idle(jump)
        return _Pooled(transport, jump)

    def _pool_key(self, target: Target) -> tuple[str, ...]:
        return (
            target.system_id,
            target.host,
            str(target.port or 22),
            _credential_id(target),
            target.host_key or "",
            repr(sorted(target.options.items())),
        )

    def _breaker_check(self, system_id: str) -> None:
        with self._lock:
            breaker = self._breakers.get(system_id)
            if breaker and breaker.open_until > time.monotonic():
                wait = breaker.open_until - time.monotonic()
                raise CircuitOpen(
                    f"{breaker.failures} connection attempts in a row failed (last: "
                    f"{breaker.last_error}); not trying again for {wait:.0f} s",
                    reason="circuit_open",
                )

    def _breaker_record(self, system_id: str, error: ConnectorError | None) -> None:
        with self._lock:
            if error is None or not isinstance(error, Unreachable):
                # Success, or a failure of the host's answer (auth, host key) rather than of
                # reaching it: the circuit is for hosts that do not answer.
                self._breakers.pop(system_id, None)
                return
            breaker = self._breakers.setdefault(system_id, _Breaker())
            breaker.failures += 1
            breaker.last_error = error.message
            if breaker.failures >= self.breaker_threshold:
                breaker.open_until = time.monotonic() + self.breaker_seconds

    def _retire(self, entry: _Pooled) -> bool:
        """Take `entry` out of the pool (lock held); True if it can be closed right away."""
        entry.retired = True
        for entries in self._pool.values():
            if entry in entries:
                entries.remove(entry)
        return entry.sessions <= 0

    def _reap(self) -> None:
        """Retire dead transports and those idle too long, across the whole pool (also those
        of deleted systems or old credentials, which no acquire would look at again)."""
        now = time.monotonic()
        closing = []
        with self._lock:
            if now - self._last_reap < 10:
                return
            self._last_reap = now
            for entries in list(self._pool.values()):
                for entry in list(entries):
                    idle = entry.sessions == 0 and now - entry.last_used > self.idle_seconds
                    if (idle or not entry.alive()) and self._retire(entry):
                        closing.append(entry)
            self._pool = {key: entries for key, entries in self._pool.items() if entries}
        for entry in closing:
            entry.close()

    def _reuse(self, key: tuple[str, ...]) -> _Pooled | None:
        """A live pooled transport with a free session slot, taken."""
        now = time.monotonic()
        closing = []
        taken = None
        with self._lock:
            for entry in list(self._pool.get(key, [])):
                idle = entry.sessions == 0 and now - entry.last_used > self.idle_seconds
                if idle or not entry.alive():
                    if self._retire(entry):
                        closing.append(entry)
                elif taken is None and entry.sessions < self.max_sessions_per_transport:
                    entry.sessions += 1
                    taken = entry
        for entry in closing:
            entry.close()
        return taken

    def _acquire(self, target: Target) -> _Pooled:
        self._reap()
        key = self._pool_key(target)
        if (entry := self._reuse(key)) is not None:
            return entry
        # One connection attempt at a time per system: those waiting then find its slots.
        with self._lock:
            connecting = self._connecting.setdefault(key, threading.Lock())
        with connecting:
            if (entry := self._reuse(key)) is not None:
                return entry
            self._breaker_check(target.system_id)
            options = _options(target)
            try:
                entry = self._connect(target, options)
            except Exception as exc:
                error = map_error(exc)
                self._breaker_record(target.system_id, error)
                raise error from None
            self._breaker_record(target.system_id, None)
            entry.sessions = 1
            with self._lock:
                self._pool.setdefault(key, []).append(entry)
            return entry

    def _let_go(self, entry: _Pooled) -> bool:
        """Give back a session slot; True when the connection is now to be closed (closing waits
        for paramiko's thread, so the caller does it off the event loop)."""
        with self._lock:
            entry.sessions -= 1
            entry.last_used = time.monotonic()
            if not entry.alive() and not entry.retired:
                self._retire(entry)
            return entry.retired and entry.sessions <= 0

    def _release(self, entry: _Pooled) -> None:
        if self._let_go(entry):
            entry.close()

    def pooled_transports(self, system_id: str) -> int:
        with self._lock:
            return sum(len(v) for k, v in self._pool.items() if k[0] == system_id)

    def stats(self) -> ConnectorStats:
        """Pooled connections per system, and the systems whose circuit is open now."""
        pooled: dict[str, int] = {}
        now = time.monotonic()
        with self._lock:
            for key, entries in self._pool.items():
                if entries:
                    pooled[key[0]] = pooled.get(key[0], 0) + len(entries)
            circuits = frozenset(
                system_id
                for system_id, breaker in self._breakers.items()
                if breaker.open_until > now
            )
        return ConnectorStats(pooled, circuits)

    # -- the protocol ------------------------------------------------------------------------

    async def check(self, target: Target) -> CheckResult:
        started = time.perf_counter()

        async def sink(stream: OutputStream, data: bytes) -> None:
            return None  # `true` prints nothing worth keeping

        result = await self.execute(
            target, ExecRequest(command="true", timeout=30), sink, asyncio.Event()
        )
        if result.exit_code != 0:
            raise ConnectorError(f"`true` exited with {result.exit_code}")
        return CheckResult(latency_ms=(time.perf_counter() - started) * 1000)

    async def execute(
        self, target: Target, request: ExecRequest, sink: OutputSink, cancel: asyncio.Event
    ) -> ExecResult:
        if request.shell not in _SHELLS:
            raise Unsupported(f"the ssh connector runs sh or bash, not {request.shell.value}")
        bad = [name for name in request.env if not _ENV_NAME.match(name)]
        if bad:
            raise Unsupported(f"not valid environment variable names: {', '.join(bad)}")
        started = datetime.now(UTC)
        if cancel.is_set():
            return ExecResult(None, started, datetime.now(UTC), cancelled=True)
        loop = asyncio.get_running_loop()
        run = _Run(sink, loop, secrets.token_hex(8))
        # Connecting (or taking a pooled connection) and opening the channel: one thread hop.
        begin = loop.run_in_executor(
            self._threads, self._begin, target, request, run, cancel.is_set
        )
        entry = await self._shielded(begin, lambda _: run.close_channel())
        if entry is None:
            return ExecResult(None, started, datetime.now(UTC), cancelled=True)
        channel = run.channel
        assert channel is not None
        reader: asyncio.Task[None] | None = None
        try:
            reader = asyncio.ensure_future(run.pump())
            outcome = await first_outcome(reader, cancel, request.timeout)
            told = True
            if outcome != "exited":
                told = await asyncio.shield(self._stop_remote(target, entry, run))
            try:
                # A host that could not be told to stop will not close the channel either.
                wait = self.grace_seconds + 5 if told else 0.5
                await asyncio.wait_for(asyncio.shield(reader), timeout=wait)
            except TimeoutError:
                run.halt()
            status = channel.exit_status if channel.exit_status_ready() else None
            if outcome == "exited" and (status is None or status < 0):
                # paramiko closes a dead connection's channels before it marks the connection
                # inactive; the exception its reader thread saved tells a lost connection
                # apart at once (a refused channel open is saved there too, on a live one).
                saved = entry.transport.saved_exception
                lost = saved is not None and not isinstance(saved, paramiko.ChannelException)
                if lost or not entry.transport.is_active():
                    raise Unreachable(
                        "the connection was lost while the command ran; its outcome is unknown",
                        reason="network",
                    )
        except BaseException as exc:
            # A failing sink, a cancelled task (worker shutdown), a lost connection: the
            # remote command must not outlive us.
            if not channel.exit_status_ready():
                await asyncio.shield(self._stop_remote(target, entry, run))
            if isinstance(exc, ConnectorError | asyncio.CancelledError) or not isinstance(
                exc, Exception
            ):
                raise
            raise map_error(exc, connecting=False) from None
        finally:
            run.halt()
            if reader is not None and not reader.done():
                reader.cancel()
            run.close_channel()
            if self._let_go(entry):
                await self._control_run(entry.close)
        return ExecResult(
            exit_code=status
            if outcome == "exited" and status is not None and status >= 0
            else None,
            started_at=started,
            finished_at=datetime.now(UTC),
            timed_out=outcome == "timed_out",
            cancelled=outcome == "cancelled",
            # paramiko does not report exit signals: a command ended by one exits with no status.
            signal="unknown" if outcome == "exited" and status is not None and status < 0 else None,
        )

    def _begin(
        self, target: Target, request: ExecRequest, run: _Run, cancelled: Callable[[], bool]
    ) -> _Pooled | None:
        """In a pool thread: a session slot on a connection, then the command's channel. None
        when the job was cancelled meanwhile (nothing was started)."""
        try:
            entry = self._acquire(target)
        except ConnectorError as error:
            error.started = False  # connecting or authenticating: nothing ran
            raise
        if cancelled():
            self._release(entry)
            return None
        try:
            run.channel = self._open(entry, request, run)
        except BaseException as exc:
            self._release(entry)
            if isinstance(exc, Exception):
                raise map_error(exc, connecting=False) from None
            raise
        return entry

    async def _shielded(
        self, work: asyncio.Future[T], undo: Callable[[T], object] | None = None
    ) -> T:
        """Await a pool thread's result; if we are cancelled meanwhile, undo what it did once
        it finishes (release the session, close the channel) instead of leaking it."""
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:

            def cleanup(done: asyncio.Future[T]) -> None:
                if done.cancelled() or done.exception() is not None:
                    return
                result = done.result()
                if undo is not None:
                    undo(result)
                if isinstance(result, _Pooled):
                    self._control.submit(self._release, result)

            work.add_done_callback(cleanup)
            raise

    @staticmethod
    def _open(entry: _Pooled, request: ExecRequest, run: _Run) -> paramiko.Channel:
        channel = entry.transport.open_session(timeout=30)
        run.listen(channel)  # before the command can print or end
        token = run.token
        exports = "".join(f"export {k}={shlex.quote(v)}; " for k, v in request.env.items())
        # sshd made the login shell a session (and process group) leader. Become sh with that
        # same process id, report it on a marker line, then become the command, still that id.
        script = (
            f'printf "\\036ORCA-{token} %s\\n" "$$"; {exports}exec {_SHELLS[request.shell]} -c "$1"'
        )
        command = in_directory(request.command, request.cwd)
        channel.exec_command(f"exec /bin/sh -c {shlex.quote(script)} orca {shlex.quote(command)}")
        channel.shutdown_write()  # no stdin: a command that reads it sees end of file
        return channel

    async def _stop_remote(self, target: Target, entry: _Pooled, run: _Run) -> bool:
        """TERM the command's process group, KILL whatever of it is left after the grace
        period. Over another channel of the same connection, or a connection of its own when
        that one has no channel to spare. False when the host could not be told at all (it
        stopped answering): then nothing more waits for it."""
        known = await self._control_run(run.pgid.known.wait, 5)
        pgid = run.pgid.value
        if not known or not pgid:
            run.halt()
            return False
        if not await self._control_run(self._signal, target, entry, pgid, "TERM"):
            run.halt()
            return False
        if run.channel is not None:
            await self._control_run(run.channel.status_event.wait, self.grace_seconds)
        # KILL whatever is left of the group, even if its leader already went.
        await self._control_run(self._signal, target, entry, pgid, "KILL")
        return True

    def _signal(self, target: Target, entry: _Pooled, pgid: int, signal_name: str) -> bool:
        """Send the group a signal; whether the host ran the `kill`."""
        command = f"kill -{signal_name} -- -{int(pgid)} 2>/dev/null; true"
        try:
            _exec_briefly(entry.transport, command)
            return True
        except Exception as exc:  # no channel to spare, or the connection is gone or silent
            silent = isinstance(exc, TimeoutError) or "timeout" in str(exc).lower()
            if silent or not entry.transport.is_active():
                entry.unresponsive = True
            log.debug("signalling over the pooled connection failed: %s", type(exc).__name__)
        try:
            spare = self._connect(target, _options(target))
        except Exception as exc:
            log.warning("could not reach %s to stop a command: %s", target.host, type(exc).__name__)
            return False
        try:
            _exec_briefly(spare.transport, command)
            return True
        except Exception as exc:
            log.warning("could not stop a command on %s: %s", target.host, type(exc).__name__)
            return False
        finally:
            spare.close()

    async def close(self) -> None:
        with self._lock:
            entries = [entry for group in self._pool.values() for entry in group]
            self._pool.clear()
        for entry in entries:
            entry.close()
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._control.shutdown(wait=False, cancel_futures=True)


def _quiet_when_idle(transport: paramiko.Transport) -> None:
    """paramiko's reader thread wakes every 0.1 s to see whether it should stop: 200 pooled,
    idle connections cost 0.12 CPU-seconds a second (measured by bench/profile.py --idle).
    Once connected, it looks every `IDLE_POLL_SECONDS` instead. Data still wakes it at once;
    only noticing a close (which nothing waits for) and keepalives get slower."""
    sock = transport.sock
    if isinstance(sock, socket.socket):
        sock.settimeout(IDLE_POLL_SECONDS)


def _exec_briefly(transport: paramiko.Transport, command: str) -> None:
    """Run a short command; raises when the host does not answer within seconds."""
    channel = transport.open_session(timeout=5)
    try:
        channel.exec_command(command)
        if not channel.status_event.wait(5):
            raise TimeoutError("no exit status within 5s")
    finally:
        channel.close()


class _LoopEvent(threading.Event):
    """A `threading.Event` paramiko sets from its reader thread (a channel's buffers, through
    `BufferedPipe.set_event`, when data arrives or they close; its `status_event` when the exit
    status arrives) whose setting also wakes an `asyncio.Event` through the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        super().__init__()
        self._loop = loop
        self._wake = wake

    def set(self) -> None:
        super().set()
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is reading
            self._loop.call_soon_threadsafe(self._wake.set)


class _Run:
    """One command's output, read from its channel on the event loop and handed to the sink."""

    def __init__(self, sink: OutputSink, loop: asyncio.AbstractEventLoop, token: str) -> None:
        self.sink = sink
        self.token = token
        self.channel: paramiko.Channel | None = None
        # The wrapper reports the command's process group id on this line.
        self.pgid = MarkerLine(b"\x1eORCA-" + token.encode() + b" ")
        self._stopped = False
        self._ready = asyncio.Event()
        self._loop = loop

    def listen(self, channel: paramiko.Channel) -> None:
        """Wire the channel's events to the reader (from the thread that opened it)."""
        self.channel = channel
        channel.status_event = _LoopEvent(self._loop, self._ready)
        data = _LoopEvent(self._loop, self._ready)  # one for both buffers, like paramiko's own
        channel.in_buffer.set_event(data)
        channel.in_stderr_buffer.set_event(data)

    def halt(self) -> None:
        self._stopped = True
        self._ready.set()

    def close_channel(self) -> None:
        # Sends one small message; paramiko does not wait for the server's answer.
        if self.channel is not None:
            self.channel.close()

    async def _drain(self, channel: paramiko.Channel) -> bool:
        # recv() returns at once when data is buffered (checked just before); it may send a
        # window adjustment, a small write on a socket we otherwise barely write to.
        moved = False
        if channel.recv_ready():
            data = self.pgid.feed(channel.recv(CHUNK))
            if data:
                await self.sink(OutputStream.stdout, data)
            moved = True
        if channel.recv_stderr_ready():
            data = channel.recv_stderr(CHUNK)
            if data:
                await self.sink(OutputStream.stderr, data)
            moved = True
        return moved

    async def pump(self) -> None:
        channel = self.channel
        assert channel is not None
        while not self._stopped:
            self._ready.clear()
            if await self._drain(channel):
                continue
            if channel.closed or (channel.eof_received and channel.exit_status_ready()):
                break
            # Woken by data, the end of output, the exit status or a close. The timeout is a
            # safety net only.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), 5.0)
        while await self._drain(channel):  # what arrived between the last look and the end
            pass
        tail = self.pgid.flush()
        if tail:
            await self.sink(OutputStream.stdout, tail)
