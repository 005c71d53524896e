"""The WinRM connector (pywinrm), for Windows systems: cmd and PowerShell.

pywinrm's `Session.run_cmd` buffers all output and waits for ever, so this drives its `Protocol`
directly: open a shell (UTF-8 codepage, the job's environment and working directory), run the
command, receive in a loop handing each round's output to the sink as it arrives (operation
timeouts are expected and looped over), then signal terminate and delete the shell.

- **The deadline is ours.** A job's timeout and a cancel are watched here, not by WinRM: on
  either, a second connection signals terminate and deletes the shell, and for PowerShell kills
  the process tree first (`taskkill /PID <pid> /T /F`; the script reports its PID on a marker
  line taken out of stdout), since processes a script started survive a terminate.
- **PowerShell** goes as `-EncodedCommand`. A script too long for cmd.exe's 8191-character
  command line is uploaded in chunks to a temporary file in the same shell, run from there by a
  short loader that deletes the file before the script starts. Its CLIXML stderr is turned into
  text (errors, warnings; progress dropped, and silenced at the source).
- **Transports**: NTLM (default; sealed messages over HTTP, channel binding over HTTPS), Basic
  (HTTPS only), client certificate (HTTPS only), Kerberos and CredSSP when their extras are
  installed (`pip install orca[kerberos]`, `orca[credssp]`). TLS certificates are validated
  unless a system's options turn that off (audited), against a per-system CA bundle if given.
- **Quota faults** (too many shells, too many operations) are retried once with a fresh shell.
- pywinrm blocks: every call runs in this connector's thread pool, and output reaches the async
  sink chunk by chunk (each waits for the sink: bounded memory).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import codecs
import concurrent.futures
import contextlib
import hashlib
import http.client
import logging
import os
import re
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import requests
import urllib3.exceptions
import winrm.transport
from cryptography import x509
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from winrm.exceptions import (
    AuthenticationError,
    WinRMError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)
from winrm.protocol import Protocol

from app.connectors.base import (
    AuthFailed,
    CheckResult,
    ConnectorError,
    ExecRequest,
    ExecResult,
    MarkerLine,
    OutputSink,
    Target,
    TLSError,
    Unreachable,
    Unsupported,
    deliver_from_thread,
    first_outcome,
)
from app.connectors.clixml import ClixmlDecoder
from app.models.enums import CredentialKind, OutputStream, Shell, SystemKind

T = TypeVar("T")
log = logging.getLogger("orca.connectors.winrm")

POWERSHELL = "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand "
COMMAND_LINE_LIMIT = 8191  # cmd.exe's
UPLOAD_CHUNK = 7600  # base64 characters per upload command
SHELL_QUOTA = 2150859173
OPERATIONS_QUOTA = 2150859174
QUOTA_FAULTS = frozenset({SHELL_QUOTA, OPERATIONS_QUOTA})
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_()]*$")
Transport = Literal["ntlm", "basic", "certificate", "kerberos", "credssp"]


class WinRMOptions(BaseModel):
    model_config = {"extra": "forbid"}

    transport: Transport = Field(
        "ntlm",
        description="ntlm (default), basic and certificate (HTTPS only), kerberos and credssp "
        "(optional extras).",
    )
    scheme: Literal["http", "https"] = Field(
        "http", description="http (5985; NTLM seals every message) or https (5986)."
    )
    cert_validation: bool = Field(
        True,
        description="Check the host's TLS certificate (https). Turning this off is audited.",
    )
    ca_bundle: str | None = Field(
        None,
        max_length=200_000,
        description="PEM certificates of the CAs to trust for this host, instead of the system's.",
    )
    send_cbt: bool = Field(True, description="NTLM over HTTPS: send channel binding tokens.")
    message_encryption: Literal["auto", "always"] = Field(
        "auto", description="auto: seal messages over HTTP; always: over HTTPS too."
    )
    codepage: int = Field(65001, ge=1, le=65535, description="The shell's codepage (65001 UTF-8).")
    operation_timeout: int = Field(
        20, ge=1, le=300, description="Seconds WinRM may hold one request (a receive, say)."
    )
    read_timeout: int | None = Field(
        None,
        ge=2,
        le=600,
        description="Seconds to wait for any answer; default: the operation timeout plus 10.",
    )
    connect_timeout: float = Field(10.0, gt=0, le=120, description="Seconds to connect.")
    working_directory: str | None = Field(None, max_length=260)
    no_profile: bool = Field(False, description="Do not load the user's profile for the shell.")
    kerberos_hostname_override: str | None = Field(None, max_length=255)

    @field_validator("ca_bundle")
    @classmethod
    def _pem(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            certificates = x509.load_pem_x509_certificates(value.encode())
        except ValueError:
            raise ValueError("not PEM certificates") from None
        if not certificates:
            raise ValueError("no certificate in it")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> WinRMOptions:
        if self.transport in ("basic", "certificate") and self.scheme != "https":
            raise ValueError(
                f"{self.transport} authentication needs scheme https (Basic would send the "
                "password in clear; certificates are presented by TLS)"
            )
        if self.read_timeout is not None and self.read_timeout <= self.operation_timeout:
            raise ValueError("read_timeout must exceed operation_timeout")
        return self

    @property
    def read_seconds(self) -> int:
        return self.read_timeout or self.operation_timeout + 10


def _options(target: Target) -> WinRMOptions:
    try:
        return WinRMOptions.model_validate(target.options)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "options"
        raise ConnectorError(
            f"the system's winrm options are invalid ({where}: {first['msg']})"
        ) from None


# -- errors ----------------------------------------------------------------------------------


class QuotaExceeded(ConnectorError):
    """WinRM refused a shell or an operation: the user's quota is used up (retried once)."""


def _root(exc: BaseException) -> BaseException:
    """The innermost cause requests/urllib3 wrapped."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = exc.__cause__ or exc.__context__
        if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
            inner = exc.reason
        elif exc.args and isinstance(exc.args[0], BaseException):
            inner = exc.args[0]
        if inner is None:
            break
        exc = inner
    return exc


def map_error(exc: BaseException) -> ConnectorError:
    """Every exception pywinrm, requests and the layers under them raise, as one of ours."""
    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, AuthenticationError):
        return AuthFailed("the host refused the credentials (HTTP 401)")
    if isinstance(exc, WSManFaultError):
        code = exc.wsman_fault_code or exc.wmierror_code
        reason = (exc.reason or "").strip()
        if code in QUOTA_FAULTS:
            return QuotaExceeded(f"WinRM quota exceeded ({code}): {reason}", reason="quota")
        return ConnectorError(f"WS-Man fault {code or exc.fault_subcode}: {reason}", reason="fault")
    if isinstance(exc, WinRMOperationTimeoutError):
        return ConnectorError(
            "WinRM did not complete an operation within its operation timeout", reason="fault"
        )
    if isinstance(exc, WinRMTransportError):
        status = exc.args[1] if len(exc.args) > 1 else "with an error"
        return ConnectorError(f"the host answered HTTP {status}", reason="http")
    if isinstance(exc, WinRMError):
        return ConnectorError(f"WinRM error: {exc}", reason="winrm")
    if isinstance(exc, requests.exceptions.SSLError | ssl.SSLError):
        root = _root(exc)
        detail = getattr(root, "verify_message", None) or getattr(root, "reason", None)
        return TLSError(
            f"TLS failed: {detail or type(root).__name__}; check the host's certificate, "
            "the system's ca_bundle, or its scheme",
            reason="certificate" if isinstance(root, ssl.SSLCertVerificationError) else "tls",
            started=False,
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Unreachable("timed out connecting", reason="timeout")
    if isinstance(exc, requests.exceptions.ReadTimeout | TimeoutError | socket.timeout):
        return Unreachable(
            "the host stopped answering (no reply within the read timeout)", reason="timeout"
        )
    if isinstance(exc, requests.exceptions.ProxyError):
        return Unreachable("the proxy refused the connection", reason="network")
    if isinstance(exc, requests.exceptions.ConnectionError | urllib3.exceptions.HTTPError):
        root = _root(exc)
        if isinstance(root, socket.gaierror) or "NameResolutionError" in type(root).__name__:
            return Unreachable("cannot resolve the host name", reason="dns")
        if isinstance(root, ConnectionRefusedError) or "refused" in str(root).lower():
            return Unreachable("connection refused", reason="refused")
        if isinstance(root, TimeoutError | socket.timeout):
            return Unreachable("timed out connecting", reason="timeout")
        if isinstance(root, http.client.HTTPException | urllib3.exceptions.ProtocolError):
            return Unreachable("the connection was closed without an answer", reason="network")
        return Unreachable(
            f"network error ({getattr(root, 'strerror', None) or type(root).__name__})",
            reason="network",
        )
    if isinstance(exc, requests.exceptions.RequestException):
        return ConnectorError(f"HTTP error: {type(exc).__name__}", reason="http")
    if isinstance(exc, ET.ParseError | StopIteration | KeyError | ValueError | binascii.Error):
        return ConnectorError("the host's answer was not the WS-Man expected", reason="protocol")
    if isinstance(exc, AssertionError):
        # pywinrm asserts that an answer relates to the request it sent.
        return ConnectorError("the host answered another request (RelatesTo)", reason="protocol")
    if type(exc).__module__.startswith("spnego"):
        return AuthFailed(f"authentication failed ({type(exc).__name__})")
    if isinstance(exc, ConnectionError | OSError):
        return Unreachable(
            f"network error ({exc.strerror or type(exc).__name__})", reason="network"
        )
    return ConnectorError(f"unexpected error: {type(exc).__name__}")


# -- what runs -------------------------------------------------------------------------------


def encoded_command(script: str) -> str:
    return POWERSHELL + base64.b64encode(script.encode("utf-16-le")).decode("ascii")


@dataclass(frozen=True)
class Plan:
    """The command lines one execution runs in its shell."""

    command: str
    uploads: tuple[str, ...] = ()  # run first, in order
    upload_path: str | None = None  # the uploaded file, as cmd names it
    marker: bytes | None = None  # PowerShell: the line that reports the process id


def plan(request: ExecRequest, token: str) -> Plan:
    if request.shell == Shell.cmd:
        command = request.command.strip()
        if "\n" in command or "\r" in command:
            raise Unsupported(
                "cmd runs one command line; write a multi-line script in PowerShell, or join "
                "the commands with &&"
            )
        if len(command) > COMMAND_LINE_LIMIT:
            raise Unsupported(
                f"cmd.exe takes at most {COMMAND_LINE_LIMIT} characters; use PowerShell for a "
                "longer script"
            )
        return Plan(command=command)
    marker = f"ORCA-{token} "
    prologue = (
        "$ProgressPreference = 'SilentlyContinue'\n"
        f"[Console]::Out.WriteLine([char]30 + '{marker}' + $PID)\n"
    )
    direct = encoded_command(prologue + request.command)
    if len(direct) <= COMMAND_LINE_LIMIT:
        return Plan(command=direct, marker=b"\x1e" + marker.encode())
    name = f"orca-{token}.ps1.b64"
    path = f"%TEMP%\\{name}"
    data = base64.b64encode(request.command.encode()).decode("ascii")
    uploads = tuple(
        f'echo {data[i : i + UPLOAD_CHUNK]} >> "{path}"' for i in range(0, len(data), UPLOAD_CHUNK)
    )
    loader = (
        prologue + f"$orcaPath = Join-Path $env:TEMP '{name}'\n"
        "$orcaScript = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String("
        "([IO.File]::ReadAllText($orcaPath)) -replace '\\s', ''))\n"
        "Remove-Item -LiteralPath $orcaPath -Force\n"
        "& ([ScriptBlock]::Create($orcaScript))\n"
    )
    return Plan(
        command=encoded_command(loader),
        uploads=uploads,
        upload_path=path,
        marker=b"\x1e" + marker.encode(),
    )


# -- the pywinrm side (blocking; in pool threads) --------------------------------------------


class _Files:
    """A private directory for what requests only reads from files: CA bundles (cached) and
    client certificates with their keys (for one execution, then deleted)."""

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._lock = threading.Lock()

    def _directory(self) -> Path:
        with self._lock:
            if self._dir is None:
                shm = Path("/dev/shm")  # noqa: S108 - a private 0700 directory in it; memory, where the host has it: keys never hit a disk
                base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
                self._dir = Path(tempfile.mkdtemp(prefix="orca-winrm-", dir=base))
                self._dir.chmod(0o700)
            return self._dir

    def ca_bundle(self, pem: str) -> str:
        path = self._directory() / f"ca-{hashlib.sha256(pem.encode()).hexdigest()[:24]}.pem"
        if not path.exists():
            partial = path.with_suffix(f".{secrets.token_hex(4)}")
            partial.write_text(pem)
            partial.replace(path)
        return str(path)

    def client_certificate(self, certificate: str, key: str) -> tuple[str, str]:
        stem = self._directory() / f"client-{secrets.token_hex(8)}"
        cert_path, key_path = stem.with_suffix(".pem"), stem.with_suffix(".key")
        for path, text in ((cert_path, certificate), (key_path, key)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(text)
        return str(cert_path), str(key_path)

    @staticmethod
    def remove(*paths: str) -> None:
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def close(self) -> None:
        with self._lock:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None


def _host_in_url(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclass
class _Shell:
    """One execution's connection and its shell."""

    protocol: Protocol
    shell_id: str
    files: tuple[str, ...] = ()  # client certificate files to delete at the end


def _fault_code(exc: BaseException) -> int | None:
    if isinstance(exc, WSManFaultError):
        return exc.wsman_fault_code or exc.wmierror_code
    return None


class _Run:
    """One command: uploads, start, and the receive loop, in a pool thread."""

    def __init__(
        self,
        connector: WinRMConnector,
        target: Target,
        options: WinRMOptions,
        request: ExecRequest,
        plan: Plan,
        shell: _Shell,
        sink: OutputSink,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.connector = connector
        self.target = target
        self.options = options
        self.request = request
        self.plan = plan
        self.shell = shell
        self.sink = sink
        self.loop = loop
        self.stop = threading.Event()
        self.command_id: str | None = None
        self.exit_code: int | None = None
        self.done = False
        self.uploaded = False  # the upload exists and the loader has not run yet
        # PowerShell: the script reports its process id on this line.
        self.pid = MarkerLine(plan.marker)
        decoder = None
        if options.codepage != 65001:
            with contextlib.suppress(LookupError):
                decoder = codecs.getincrementaldecoder(f"cp{options.codepage}")
        self._decoders = {
            OutputStream.stdout: decoder(errors="replace") if decoder else None,
            OutputStream.stderr: decoder(errors="replace") if decoder else None,
        }
        self._clixml = ClixmlDecoder() if plan.marker is not None else None

    # -- output ------------------------------------------------------------------------------

    def _deliver(self, stream: OutputStream, data: bytes) -> None:
        deliver_from_thread(self.loop, self.sink, stream, data)

    def _utf8(self, stream: OutputStream, data: bytes, final: bool = False) -> bytes:
        decoder = self._decoders[stream]
        if decoder is None:
            return data
        return str(decoder.decode(data, final)).encode()

    def _stdout(self, data: bytes) -> None:
        self._deliver(OutputStream.stdout, self.pid.feed(data))

    def _stderr(self, data: bytes) -> None:
        if self._clixml is not None:
            data = self._clixml.feed(data)
        self._deliver(OutputStream.stderr, data)

    def _flush(self) -> None:
        self._stdout(self._utf8(OutputStream.stdout, b"", final=True))
        self._deliver(OutputStream.stdout, self.pid.flush())
        tail = self._utf8(OutputStream.stderr, b"", final=True)
        if self._clixml is not None:
            tail = self._clixml.feed(tail) + self._clixml.close()
        self._deliver(OutputStream.stderr, tail)

    # -- running -----------------------------------------------------------------------------

    def _start(self, command: str) -> str:
        """Run a command in the shell; a quota fault gets one retry in a fresh shell."""
        protocol = self.shell.protocol
        try:
            return str(protocol.run_command(self.shell.shell_id, command))
        except WSManFaultError as exc:
            if _fault_code(exc) not in QUOTA_FAULTS or self.stop.is_set():
                raise
        log.info("WinRM quota fault on %s; retrying in a fresh shell", self.target.host)
        with contextlib.suppress(Exception):
            protocol.close_shell(self.shell.shell_id, close_session=False)
        self.shell.shell_id = self.connector._open_shell(protocol, self.options, self.request)
        return str(protocol.run_command(self.shell.shell_id, command))

    def _run_quietly(self, command: str) -> None:
        """An upload step: must succeed; its output is not the job's."""
        protocol, shell_id = self.shell.protocol, self.shell.shell_id
        command_id = self._start(command)
        done, code, errors = False, -1, b""
        while not done and not self.stop.is_set():
            try:
                _, err, code, done = protocol.get_command_output_raw(shell_id, command_id)
                errors = (errors + err)[-2000:]
            except WinRMOperationTimeoutError:
                continue
        protocol.cleanup_command(self.shell.shell_id, command_id)
        if done and code != 0:
            text = errors.decode(errors="replace").strip() or f"exit code {code}"
            raise ConnectorError(f"uploading the script failed: {text}", reason="upload")

    def pump(self) -> None:
        protocol = self.shell.protocol
        try:
            for command in self.plan.uploads:
                if self.stop.is_set():
                    return
                self.uploaded = True
                self._run_quietly(command)
            if self.stop.is_set():
                return
            self.command_id = self._start(self.plan.command)
            self.uploaded = False  # the loader removes the file before the script runs
            while not self.stop.is_set():
                try:
                    out, err, code, done = protocol.get_command_output_raw(
                        self.shell.shell_id, self.command_id
                    )
                except WinRMOperationTimeoutError:
                    continue  # nothing new within the operation timeout: ask again
                self._stdout(self._utf8(OutputStream.stdout, out))
                self._stderr(self._utf8(OutputStream.stderr, err))
                if done:
                    self.exit_code, self.done = code, True
                    break
        except Exception:
            if self.stop.is_set():
                return  # we are tearing the shell down under it: its errors are ours
            raise
        finally:
            self._flush()


class WinRMConnector:
    name: ClassVar[str] = "winrm"
    options_schema: ClassVar[type[BaseModel]] = WinRMOptions
    shells: ClassVar[frozenset[Shell]] = frozenset({Shell.cmd, Shell.powershell})
    credential_kinds: ClassVar[frozenset[CredentialKind]] = frozenset(
        {CredentialKind.winrm_password, CredentialKind.winrm_certificate}
    )
    kinds: ClassVar[frozenset[SystemKind]] = frozenset({SystemKind.windows})
    default_port: ClassVar[int | None] = 5985

    grace_seconds: ClassVar[float] = 10.0

    def __init__(self, max_threads: int = 256) -> None:
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_threads, thread_name_prefix="orca-winrm"
        )
        # Stopping and cleaning up never wait behind the threads receiving output.
        self._control = concurrent.futures.ThreadPoolExecutor(
            max_workers=16, thread_name_prefix="orca-winrm-control"
        )
        self._files = _Files()

    # -- what the systems API asks a connector -----------------------------------------------

    @staticmethod
    def port_for(options: dict[str, Any]) -> int:
        return 5986 if options.get("scheme") == "https" else 5985

    @staticmethod
    def credential_problem(options: dict[str, Any], kind: CredentialKind) -> str | None:
        certificate = options.get("transport") == "certificate"
        if certificate and kind != CredentialKind.winrm_certificate:
            return "the certificate transport needs a winrm-certificate credential"
        if not certificate and kind == CredentialKind.winrm_certificate:
            return "a winrm-certificate credential needs transport certificate"
        return None

    @staticmethod
    def insecure_settings(options: dict[str, Any]) -> list[str]:
        """Settings that weaken security, named for the audit log."""
        if options.get("scheme") == "https" and options.get("cert_validation") is False:
            return ["cert_validation"]
        return []

    # -- connecting --------------------------------------------------------------------------

    async def _control_run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._control, fn, *args)

    def _protocol(self, target: Target, options: WinRMOptions) -> tuple[Protocol, tuple[str, ...]]:
        """A pywinrm Protocol for the target, and any files made for it (delete after use)."""
        try:
            return self._make_protocol(target, options)
        except Exception as exc:
            error = map_error(exc)
            error.started = False
            raise error from None

    def _make_protocol(
        self, target: Target, options: WinRMOptions
    ) -> tuple[Protocol, tuple[str, ...]]:
        transport: str = options.transport
        extra: dict[str, Any] = {}
        files: tuple[str, ...] = ()
        if transport == "kerberos" and not winrm.transport.HAVE_KERBEROS:
            raise Unsupported(
                "Kerberos needs its extra: pip install 'orca[kerberos]' (and the system's "
                "Kerberos libraries)",
                started=False,
            )
        if transport == "credssp" and not winrm.transport.HAVE_CREDSSP:
            raise Unsupported("CredSSP needs its extra: pip install 'orca[credssp]'", started=False)
        if transport == "certificate":
            certificate, key = target.secret.get("certificate"), target.secret.get("private_key")
            if not certificate or not key:
                raise AuthFailed(
                    "the certificate transport needs a winrm-certificate credential",
                    started=False,
                )
            cert_path, key_path = self._files.client_certificate(certificate, key)
            files = (cert_path, key_path)
            extra.update(cert_pem=cert_path, cert_key_pem=key_path)
        elif transport != "kerberos" and "password" not in target.secret:
            raise AuthFailed("the system has no WinRM password credential", started=False)
        elif transport != "kerberos" and not target.username:
            raise AuthFailed("the system's credential has no username", started=False)
        if options.kerberos_hostname_override:
            extra["kerberos_hostname_override"] = options.kerberos_hostname_override
        validate = options.cert_validation or options.scheme == "http"
        ca_path = self._files.ca_bundle(options.ca_bundle) if options.ca_bundle else None
        port = target.port or self.port_for({"scheme": options.scheme})
        protocol = Protocol(
            f"{options.scheme}://{_host_in_url(target.host)}:{port}/wsman",
            transport=transport,  # type: ignore[arg-type]
            username=target.username or ("" if transport == "certificate" else None),
            password=target.secret.get("password", ""),
            server_cert_validation="validate" if validate else "ignore",
            # None: the default trust store, never a CA bundle from the environment.
            ca_trust_path=ca_path,  # type: ignore[arg-type]
            read_timeout_sec=options.read_seconds,
            operation_timeout_sec=options.operation_timeout,
            message_encryption=options.message_encryption,
            send_cbt=options.send_cbt,
            proxy=None,  # never an environment proxy
            **extra,
        )
        # requests takes (connect, read): connecting should not wait as long as a receive may.
        protocol.transport.read_timeout_sec = (  # type: ignore[assignment]
            options.connect_timeout,
            options.read_seconds,
        )
        return protocol, files

    def _open_shell(self, protocol: Protocol, options: WinRMOptions, request: ExecRequest) -> str:
        """Open a shell; a quota fault is retried once after a pause (shells of finished
        commands may still be closing)."""
        arguments: dict[str, Any] = {
            "codepage": options.codepage,
            "noprofile": options.no_profile,
            "working_directory": request.cwd or options.working_directory,
            "env_vars": dict(request.env) or None,
        }
        try:
            return str(protocol.open_shell(**arguments))
        except WSManFaultError as exc:
            if _fault_code(exc) not in QUOTA_FAULTS:
                raise
        time.sleep(1.0)
        return str(protocol.open_shell(**arguments))

    def _connect(self, target: Target, options: WinRMOptions, request: ExecRequest) -> _Shell:
        protocol, files = self._protocol(target, options)  # raises ConnectorErrors only
        try:
            return _Shell(protocol, self._open_shell(protocol, options, request), files)
        except BaseException as exc:
            protocol.transport.close_session()
            self._files.remove(*files)
            if isinstance(exc, Exception):
                error = map_error(exc)
                error.started = False
                raise error from None
            raise

    def _finish(self, target: Target, shell: _Shell, run: _Run | None, pump_done: bool) -> None:
        """Terminate the command and delete the shell over its own connection (if the pump has
        let go of it), then close the connection and delete credential files."""
        try:
            if pump_done and not (run is not None and run.stop.is_set()):
                if run is not None and run.command_id is not None:
                    shell.protocol.cleanup_command(shell.shell_id, run.command_id)
                shell.protocol.close_shell(shell.shell_id, close_session=False)
        except Exception as exc:
            log.warning("could not close a shell on %s: %s", target.host, type(exc).__name__)
        finally:
            shell.protocol.transport.close_session()
            self._files.remove(*shell.files)

    def _stop_remote(self, target: Target, options: WinRMOptions, run: _Run) -> None:
        """Over a second connection (the first is busy receiving): kill the PowerShell process
        tree, terminate the command, remove an upload left behind, delete the shell."""
        run.stop.set()
        run.pid.known.wait(2)
        try:
            protocol, files = self._protocol(target, options)
        except ConnectorError as exc:
            log.warning("could not stop a command on %s: %s", target.host, exc.message)
            return
        try:
            steps: list[tuple[str, Callable[[], object]]] = []
            shell_id = run.shell.shell_id
            if run.pid.value:
                kill = f"taskkill /PID {int(run.pid.value)} /T /F"
                steps.append(("kill", lambda: self._run_aside(protocol, shell_id, kill)))
            if run.command_id is not None:
                command_id = run.command_id
                steps.append(("terminate", lambda: protocol.cleanup_command(shell_id, command_id)))
            if run.uploaded and run.plan.upload_path:
                remove = f'del /f /q "{run.plan.upload_path}"'
                steps.append(("upload", lambda: self._run_aside(protocol, shell_id, remove)))
            steps.append(("delete", lambda: protocol.close_shell(shell_id, close_session=False)))
            for name, step in steps:
                try:
                    step()
                except Exception as exc:  # the command may have ended meanwhile
                    log.info(
                        "stopping on %s: %s failed (%s)", target.host, name, type(exc).__name__
                    )
        finally:
            protocol.transport.close_session()
            self._files.remove(*files)

    @staticmethod
    def _run_aside(protocol: Protocol, shell_id: str, command: str) -> None:
        """Run a short command in the shell and wait for it (bounded)."""
        command_id = protocol.run_command(shell_id, command)
        deadline = time.monotonic() + 30
        done = False
        while not done and time.monotonic() < deadline:
            try:
                _, _, _, done = protocol.get_command_output_raw(shell_id, command_id)
            except WinRMOperationTimeoutError:
                continue
        protocol.cleanup_command(shell_id, command_id)

    # -- the protocol ------------------------------------------------------------------------

    async def check(self, target: Target) -> CheckResult:
        started = time.perf_counter()

        async def sink(stream: OutputStream, data: bytes) -> None:
            return None

        result = await self.execute(
            target,
            ExecRequest(command="hostname", shell=Shell.cmd, timeout=60),
            sink,
            asyncio.Event(),
        )
        if result.exit_code != 0:
            raise ConnectorError(f"`hostname` exited with {result.exit_code}")
        return CheckResult(latency_ms=(time.perf_counter() - started) * 1000)

    async def execute(
        self, target: Target, request: ExecRequest, sink: OutputSink, cancel: asyncio.Event
    ) -> ExecResult:
        if request.shell not in self.shells:
            raise Unsupported(
                f"the winrm connector runs cmd or powershell, not {request.shell.value}"
            )
        bad = [name for name in request.env if not _ENV_NAME.match(name)]
        if bad:
            raise Unsupported(f"not valid environment variable names: {', '.join(bad)}")
        options = _options(target)
        steps = plan(request, secrets.token_hex(8))
        started = datetime.now(UTC)
        if cancel.is_set():
            return ExecResult(None, started, datetime.now(UTC), cancelled=True)
        loop = asyncio.get_running_loop()
        connecting = loop.run_in_executor(self._threads, self._connect, target, options, request)
        shell = await self._shielded(connecting, target)
        run: _Run | None = None
        pump_done = True
        try:
            if cancel.is_set():
                return ExecResult(None, started, datetime.now(UTC), cancelled=True)
            run = _Run(self, target, options, request, steps, shell, sink, loop)
            reader = loop.run_in_executor(self._threads, run.pump)
            pump_done = False
            outcome = await first_outcome(reader, cancel, request.timeout)
            pump_done = True
            if outcome != "exited":
                await asyncio.shield(self._control_run(self._stop_remote, target, options, run))
                try:
                    await asyncio.wait_for(asyncio.shield(reader), timeout=self.grace_seconds)
                except TimeoutError:
                    pump_done = False
        except BaseException as exc:
            # A failing sink, a lost connection, a cancelled task (worker shutdown): the
            # remote command must not outlive us.
            if run is not None and not run.done:
                pump_done = False
                await asyncio.shield(self._control_run(self._stop_remote, target, options, run))
            if isinstance(exc, ConnectorError | asyncio.CancelledError) or not isinstance(
                exc, Exception
            ):
                raise
            raise map_error(exc) from None
        finally:
            await asyncio.shield(self._control_run(self._finish, target, shell, run, pump_done))
        assert run is not None
        exited = outcome == "exited" and run.done
        return ExecResult(
            exit_code=run.exit_code if exited else None,
            started_at=started,
            finished_at=datetime.now(UTC),
            timed_out=outcome == "timed_out",
            cancelled=outcome == "cancelled",
        )

    async def _shielded(self, work: asyncio.Future[_Shell], target: Target) -> _Shell:
        """Await the connecting thread; if we are cancelled meanwhile, close the shell it opens
        once it finishes instead of leaking it."""
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:

            def cleanup(done: asyncio.Future[_Shell]) -> None:
                if not done.cancelled() and done.exception() is None:
                    self._control.submit(self._finish, target, done.result(), None, True)

            work.add_done_callback(cleanup)
            raise

    async def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._control.shutdown(wait=False, cancel_futures=True)
        self._files.close()
