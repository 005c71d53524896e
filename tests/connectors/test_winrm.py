"""The WinRM connector through real pywinrm and real sockets, against the fake Windows host:
streaming, exit codes, big output, codepages, every transport, refused credentials and
certificates, deadlines and cancels that end the command and delete the shell, PowerShell
process trees, long scripts, quota faults and a host that stops answering."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import pytest
import requests
import urllib3.exceptions
import winrm.exceptions
import winrm.transport

from app.connectors.base import (
    AuthFailed,
    ConnectorError,
    ExecRequest,
    Target,
    TLSError,
    Unreachable,
    Unsupported,
)
from app.connectors.winrm import (
    COMMAND_LINE_LIMIT,
    QuotaExceeded,
    WinRMConnector,
    WinRMOptions,
    map_error,
    plan,
)
from app.core.embedded import free_port
from app.models.enums import OutputStream, Shell
from tests.fixtures.output import Collector
from tests.fixtures.winrm import WINRM_PASSWORD, WINRM_USER
from tests.winrm_server import Invocation, WinRMServer
from tests.winrm_server import wsman as faults
from tests.winrm_server.pki import Authority

TRANSPORTS = {"basic": "basic", "ntlm": "ntlm", "cert": "certificate"}


@pytest.fixture
async def connector() -> AsyncIterator[WinRMConnector]:
    instance = WinRMConnector(max_threads=16)
    yield instance
    await instance.close()


def target(
    server: WinRMServer,
    listener: str = "ntlm-http",
    *,
    secret: dict[str, str] | None = None,
    **options: Any,
) -> Target:
    scheme = "https" if listener.endswith("https") else "http"
    values: dict[str, Any] = {"transport": TRANSPORTS[listener.split("-")[0]], "scheme": scheme}
    if scheme == "https":
        values["ca_bundle"] = server.ca_pem
    return Target(
        system_id="win-1",
        host="127.0.0.1",
        port=server.port(listener),
        username=WINRM_USER,
        secret=secret if secret is not None else {"password": WINRM_PASSWORD},
        options=values | options,
    )


async def run(
    connector: WinRMConnector,
    where: Target,
    command: str,
    shell: Shell = Shell.powershell,
    *,
    limit: float | None = 30,
    cancel: asyncio.Event | None = None,
    env: dict[str, str] | None = None,
) -> tuple[Collector, Any]:
    sink = Collector()
    request = ExecRequest(command=command, shell=shell, env=env or {}, timeout=limit)
    result = await connector.execute(where, request, sink, cancel or asyncio.Event())
    return sink, result


def ticking(count: int, pause: float) -> Any:
    def handler(invocation: Invocation) -> int:
        for tick in range(count):
            invocation.line(f"tick {tick}")
            invocation.sleep(pause)
        return 0

    return handler


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_output_streams_round_by_round_before_the_command_ends(
    connector: WinRMConnector, winrm_server: WinRMServer
) -> None:
    winrm_server.host.on(r"Invoke-Slow", ticking(5, 0.3), only="powershell")
    started = time.monotonic()
    sink, result = await run(connector, target(winrm_server), "Invoke-Slow")
    ended = time.monotonic()
    assert result.exit_code == 0 and not result.timed_out
    assert sink.text(OutputStream.stdout) == "".join(f"tick {n}\r\n" for n in range(5))
    # The first line reached the sink well before the command finished (1.5 s of ticks).
    assert sink.times[0] - started < ended - started - 1.0
    assert len(sink.chunks) >= 4
    assert winrm_server.host.requests.count("Receive") >= 5
    stats = winrm_server.host.wait_idle()
    assert stats.shells_open == 0 and stats.commands_unterminated == 0


async def test_exit_codes_and_stderr(connector: WinRMConnector, winrm_server: WinRMServer) -> None:
    _, result = await run(connector, target(winrm_server), "exit /b 7", Shell.cmd)
    assert result.exit_code == 7

    def failing(invocation: Invocation) -> int:
        invocation.out("partial\r\n")
        invocation.error("the disk is full")
        invocation.warning("retrying later")
        invocation.progress("Copying", 50)
        return 3

    winrm_server.host.on(r"Copy-Things", failing, only="powershell")
    sink, result = await run(connector, target(winrm_server), "Copy-Things")
    assert result.exit_code == 3
    assert sink.text(OutputStream.stdout) == "partial\r\n"
    stderr = sink.text(OutputStream.stderr)
    # CLIXML decoded into text; progress silenced at the source and never shown.
    assert stderr.startswith("Write-Error : the disk is full\r\n")
    assert "WARNING: retrying later\r\n" in stderr
    assert "CLIXML" not in stderr and "<Objs" not in stderr and "Copying" not in stderr

    sink, result = await run(connector, target(winrm_server), "frobnicate --now", Shell.cmd)
    assert result.exit_code == 1
    assert sink.text(OutputStream.stderr).startswith("'frobnicate' is not recognized")


async def test_more_than_a_mebibyte_arrives_whole(
    connector: WinRMConnector, winrm_server: WinRMServer
) -> None:
    blob = os.urandom(3 * 1024 * 1024 // 4).hex().encode()  # 1.5 MiB of text

    def big(invocation: Invocation) -> int:
        for start in range(0, len(blob), 100_000):
            invocation.out(blob[start : start + 100_000])
        return 0

    winrm_server.host.on(r"^dump$", big)
    before = winrm_server.host.requests.count("Receive")
    sink, result = await run(connector, target(winrm_server), "dump", Shell.cmd)
    assert result.exit_code == 0
    got = sink.data(OutputStream.stdout)
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(blob).hexdigest()
    assert winrm_server.host.requests.count("Receive") - before >= len(blob) // 115_000


@pytest.mark.parametrize(
    ("codepage", "expected"), [(None, "Grüße ✓ 東京\r\n"), (437, "Grüße ? ??\r\n")]
)
async def test_utf8_by_default_and_codepage_437_transcoded(
    connector: WinRMConnector, winrm_server: WinRMServer, codepage: int | None, expected: str
) -> None:
    winrm_server.host.on(r"^greet$", lambda invocation: invocation.line("Grüße ✓ 東京"))
    options = {"codepage": codepage} if codepage else {}
    sink, _ = await run(connector, target(winrm_server, **options), "greet", Shell.cmd)
    # Orca stores UTF-8 either way: 437's bytes were decoded, what it cannot show is "?".
    assert sink.text(OutputStream.stdout) == expected


@pytest.mark.parametrize("listener", ["ntlm-http", "ntlm-https", "basic-https", "cert-https"])
async def test_every_transport(
    connector: WinRMConnector, winrm_server: WinRMServer, listener: str
) -> None:
    secret = None
    if listener == "cert-https":
        issued = winrm_server.client_certificate(WINRM_USER)
        secret = {"certificate": issued.certificate, "private_key": issued.private_key}
    sink, result = await run(
        connector, target(winrm_server, listener, secret=secret), "whoami", Shell.cmd
    )
    assert result.exit_code == 0
    assert sink.text(OutputStream.stdout) == f"orca-win\\{WINRM_USER}\r\n"
    # Client certificate files live only as long as the execution.
    leftovers = [n for n in os.listdir(connector._files._directory()) if n.startswith("client-")]
    assert leftovers == []


async def test_ntlm_over_http_seals_every_message(
    connector: WinRMConnector, winrm_server: WinRMServer
) -> None:
    # The ntlm-http listener turns plaintext away (AllowUnencrypted=false), so a run there is
    # proof the bodies were sealed; the fidelity tests show plaintext refused.
    _, result = await run(connector, target(winrm_server, "ntlm-http"), "hostname", Shell.cmd)
    assert result.exit_code == 0


async def test_wrong_password_is_an_auth_failure_before_anything_runs(
    connector: WinRMConnector, winrm_server: WinRMServer
) -> None:
    for listener in ("ntlm-http", "ntlm-https", "basic-https"):
        with pytest.raises(AuthFailed) as failure:
            await run(
                connector,
                target(winrm_server, listener, secret={"password": "wrong"}),
                "hostname",
                Shell.cmd,
            )
        assert failure.value.started is False
    assert winrm_server.host.stats().shells_created == 0


async def test_certificates_are_validated_unless_turned_off(
    connector: WinRMConnector, winrm_server: WinRMServer
) -> None:
    untrusted = target(winrm_server, "ntlm-https", ca_bundle=None)
    with pytest.raises(TLSError) as failure:
        await run(connector, untrusted, "hostname", Shell.cmd)
    assert failure.value.category == "tls" and failure.value.reason == "certificate"
    assert failure.value.started is False

    wrong = target(winrm_server, "ntlm-https", ca_bundle=Authority("another CA").pem)
    with pytest.raises(TLSError):
        await run(connector, wrong, "hostname", Shell.cmd)

    trusting = target(winrm_server, "ntlm-https", ca_bundle=None, cert_validation=False)
    _, result = await run(connector, trusting, "hostname", Shell.cmd)
    assert result.exit_code == 0


async def test_a_deadline_kills_the_powershell_tree_terminates_and_deletes_the_shell(
    connector: WinRMConnector, winrm_server: WinRMServer
) -> None:
    children: list[int] = []

    def forever(invocation: Invocation) -> int:
        children.append(invocation.spawn_child(["sleep", "300"]).pid)
        while True:
            invocation.line("still here")
            invocation.sleep(0.2)

    winrm_server.host.on(r"Start-Forever", forever, only="powershell")
    started = time.monotonic()
    sink, result = await run(connector, target(winrm_server), "Start-Forever", limit=1.5)
    assert result.timed_out and result.exit_code is None
    assert time.monotonic() - started < 10
    assert "still here" in sink.text(OutputStream.stdout)
    assert "ORCA-" not in sink.text(OutputStream.stdout)  # the PID marker was taken out
    stats = winrm_server.host.wait_idle()
    assert stats.shells_open == 0 and stats.processes_alive == 0
    assert stats.commands_unterminated == 0 and "terminate" in stats.signals
    assert stats.processes_killed == 1  # the tree kill, which also ended the real child
    assert children and process_gone(children[0])


async def test_a_cmd_deadline_terminates_and_deletes_the_shell(
    connector: WinRMConnector, winrm_server: WinRMServer
) -> None:
    winrm_server.host.on(r"^ping -t", ticking(1000, 0.1))
    _, result = await run(connector, target(winrm_server), "ping -t localhost", Shell.cmd, limit=1)
    assert result.timed_out
    stats = winrm_server.host.wait_idle()
    assert stats.shells_open == 0 and stats.commands_running == 0
    assert stats.signals == ("terminate",)


async def test_cancel_mid_output(connector: WinRMConnector, winrm_server: WinRMServer) -> None:
    winrm_server.host.on(r"Watch-Log", ticking(1000, 0.05), only="powershell")
    cancel = asyncio.Event()

    class CancelOnOutput(Collector):
        async def __call__(self, stream: OutputStream, data: bytes) -> None:
            await super().__call__(stream, data)
            cancel.set()

    sink = CancelOnOutput()
    request = ExecRequest(command="Watch-Log", shell=Shell.powershell, timeout=60)
    result = await connector.execute(target(winrm_server), request, sink, cancel)
    assert result.cancelled and result.exit_code is None
    assert 0 < len(sink.text(OutputStream.stdout).splitlines()) < 1000
    stats = winrm_server.host.wait_idle()
    assert stats.shells_open == 0 and stats.processes_alive == 0 and stats.processes_killed == 1


async def test_a_cancelled_task_still_stops_the_remote_command(
    connector: WinRMConnector, winrm_server: WinRMServer
) -> None:
    winrm_server.host.on(r"^serve$", ticking(1000, 0.1))
    task = asyncio.create_task(run(connector, target(winrm_server), "serve", Shell.cmd))
    for _ in range(100):
        if winrm_server.host.stats().commands_running:
            break
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stats = winrm_server.host.wait_idle()
    assert stats.shells_open == 0 and stats.commands_running == 0


async def test_environment_and_working_directory(
    connector: WinRMConnector, winrm_server: WinRMServer
) -> None:
    where = target(winrm_server, working_directory="D:\\Deploy")
    sink, _ = await run(connector, where, "set ORCA_", Shell.cmd, env={"ORCA_RELEASE": "4.2"})
    assert sink.text(OutputStream.stdout) == "ORCA_RELEASE=4.2\r\n"
    sink, _ = await run(connector, where, "cd", Shell.cmd)
    assert sink.text(OutputStream.stdout) == "D:\\Deploy\r\n"
    # A job's own working directory wins over the system's.
    sink = Collector()
    request = ExecRequest(command="cd", shell=Shell.cmd, cwd="E:\\Jobs")
    await connector.execute(where, request, sink, asyncio.Event())
    assert sink.text(OutputStream.stdout) == "E:\\Jobs\r\n"


async def test_a_long_powershell_script_is_uploaded_run_and_removed(
    connector: WinRMConnector, winrm_server: WinRMServer
) -> None:
    seen: list[str] = []

    def record(invocation: Invocation) -> int:
        seen.append(invocation.script)
        invocation.line("ran")
        return 0

    winrm_server.host.on(r"Install-Everything", record, only="powershell")
    script = "Install-Everything\n" + "".join(f"# padding line {n} ü ✓\n" for n in range(600))
    steps = plan(ExecRequest(command=script, shell=Shell.powershell), "abc")
    assert steps.uploads and all(len(line) <= COMMAND_LINE_LIMIT for line in steps.uploads)
    assert len(steps.command) <= COMMAND_LINE_LIMIT
    sink, result = await run(connector, target(winrm_server), script)
    assert result.exit_code == 0 and sink.text(OutputStream.stdout) == "ran\r\n"
    assert len(seen) == 1 and seen[0].strip() == script.strip()  # the whole script, intact
    stats = winrm_server.host.wait_idle()
    assert stats.files == () and stats.shells_created == 1  # one shell for upload and run


async def test_a_cancel_during_the_upload_removes_the_partial_file(
    connector: WinRMConnector, winrm_server: WinRMServer
) -> None:
    winrm_server.host.stall("Command", 2.0, times=3)
    cancel = asyncio.Event()
    script = "Install-Everything\n" + "# padding\n" * 2000
    task = asyncio.create_task(run(connector, target(winrm_server), script, cancel=cancel))
    await asyncio.sleep(2.5)  # the first chunk landed, the second is stalled
    cancel.set()
    _, result = await task
    assert result.cancelled
    stats = winrm_server.host.wait_idle(15)
    assert stats.files == () and stats.shells_open == 0


async def test_quota_faults_are_retried_once_with_a_fresh_shell(
    connector: WinRMConnector, winrm_server: WinRMServer
) -> None:
    winrm_server.host.inject_fault("Create", lambda: faults.shell_quota(30))
    _, result = await run(connector, target(winrm_server), "hostname", Shell.cmd)
    assert result.exit_code == 0

    winrm_server.host.inject_fault("Command", lambda: faults.operations_quota(25))
    before = winrm_server.host.stats().shells_created
    _, result = await run(connector, target(winrm_server), "hostname", Shell.cmd)
    assert result.exit_code == 0
    stats = winrm_server.host.wait_idle()
    assert stats.shells_created - before == 2 and stats.shells_open == 0

    winrm_server.host.inject_fault("Create", lambda: faults.shell_quota(30), times=2)
    with pytest.raises(QuotaExceeded) as failure:
        await run(connector, target(winrm_server), "hostname", Shell.cmd)
    assert failure.value.started is False and "quota" in failure.value.message


async def test_a_host_that_stalls_past_the_read_timeout(
    connector: WinRMConnector, winrm_server: WinRMServer
) -> None:
    winrm_server.host.on(r"^work$", ticking(100, 0.1))
    winrm_server.host.stall("Receive", 6.0)
    where = target(winrm_server, operation_timeout=1, read_timeout=2)
    started = time.monotonic()
    with pytest.raises(Unreachable) as failure:
        await run(connector, where, "work", Shell.cmd)
    assert failure.value.reason == "timeout" and failure.value.started is True
    assert time.monotonic() - started < 6
    # The command was stopped and the shell deleted over a second connection.
    stats = winrm_server.host.wait_idle()
    assert stats.shells_open == 0 and stats.commands_running == 0


async def test_unreachable_hosts(connector: WinRMConnector) -> None:
    closed = Target(
        system_id="gone",
        host="127.0.0.1",
        port=free_port(),
        username="u",
        secret={"password": "p"},
        options={"connect_timeout": 2},
    )
    with pytest.raises(Unreachable) as failure:
        await run(connector, closed, "hostname", Shell.cmd)
    assert failure.value.reason == "refused" and failure.value.started is False

    unknown = Target(
        system_id="dns",
        host="no-such-host.invalid",
        port=5985,
        username="u",
        secret={"password": "p"},
    )
    with pytest.raises(Unreachable) as failure:
        await run(connector, unknown, "hostname", Shell.cmd)
    assert failure.value.reason == "dns"


async def test_what_the_connector_refuses_before_connecting(
    connector: WinRMConnector, winrm_server: WinRMServer
) -> None:
    where = target(winrm_server)
    with pytest.raises(Unsupported, match="cmd or powershell"):
        await run(connector, where, "ls", Shell.sh)
    with pytest.raises(Unsupported, match="one command line"):
        await run(connector, where, "echo a\necho b", Shell.cmd)
    with pytest.raises(Unsupported, match="8191"):
        await run(connector, where, "echo " + "x" * 9000, Shell.cmd)
    with pytest.raises(Unsupported, match="environment variable"):
        await run(connector, where, "hostname", Shell.cmd, env={"A=B": "1"})
    with pytest.raises(ConnectorError, match="scheme https"):
        await run(
            connector, target(winrm_server, "basic-https", scheme="http"), "hostname", Shell.cmd
        )
    nameless = Target(
        system_id="w", host="127.0.0.1", port=where.port, secret={"password": "p"}, options={}
    )
    with pytest.raises(AuthFailed, match="no username") as failure:
        await run(connector, nameless, "hostname", Shell.cmd)
    assert failure.value.started is False
    assert winrm_server.host.stats().shells_created == 0


async def test_check_runs_a_trivial_command(
    connector: WinRMConnector, winrm_server: WinRMServer
) -> None:
    result = await connector.check(target(winrm_server))
    assert result.latency_ms > 0
    with pytest.raises(AuthFailed):
        await connector.check(target(winrm_server, secret={"password": "nope"}))


def test_options_are_checked() -> None:
    assert WinRMOptions().transport == "ntlm" and WinRMOptions().scheme == "http"
    with pytest.raises(ValueError, match="scheme https"):
        WinRMOptions(transport="basic")
    with pytest.raises(ValueError, match="scheme https"):
        WinRMOptions(transport="certificate", scheme="http")
    with pytest.raises(ValueError, match="read_timeout"):
        WinRMOptions(operation_timeout=30, read_timeout=20)
    with pytest.raises(ValueError, match="PEM"):
        WinRMOptions(ca_bundle="not a certificate")
    assert WinRMConnector.port_for({"scheme": "https"}) == 5986
    assert WinRMConnector.insecure_settings({"scheme": "https", "cert_validation": False}) == [
        "cert_validation"
    ]


def _instances(module: Any) -> list[BaseException]:
    """One instance of each exception class a module defines, whatever its constructor wants."""
    found = []
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if not issubclass(cls, BaseException) or cls.__module__ != module.__name__:
            continue
        if issubclass(cls, Warning):  # requests' warnings are issued, never raised
            continue
        for args in (
            (),
            ("message",),
            ("msg", "doc", 0),
            ("http", 500, "<x/>"),
            (500, "m", "r", "reason"),
        ):
            try:
                found.append(cls(*args))
                break
            except (TypeError, AttributeError):
                continue
        else:
            raise AssertionError(f"cannot build {cls}")
    return found


def test_every_pywinrm_and_requests_exception_maps_into_the_tree() -> None:
    errors = _instances(winrm.exceptions) + _instances(requests.exceptions)
    assert len(errors) > 25
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    errors += [
        requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", refused)),  # type: ignore[arg-type]
        requests.exceptions.SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed")),
        urllib3.exceptions.ProtocolError("Connection aborted."),
        socket.gaierror(-2, "Name or service not known"),
        ConnectionResetError(104, "reset"),
        TimeoutError(),
        ET.ParseError("junk"),
        StopIteration(),
        AssertionError(),
        KeyError("ShellId"),
    ]
    for error in errors:
        mapped = map_error(error)
        assert isinstance(mapped, ConnectorError), error
        assert "unexpected error" not in mapped.message, repr(error)
    assert isinstance(map_error(winrm.exceptions.InvalidCredentialsError("x")), AuthFailed)
    assert isinstance(map_error(requests.exceptions.SSLError("bad cert")), TLSError)
    assert isinstance(map_error(requests.exceptions.ReadTimeout()), Unreachable)
    fault = winrm.exceptions.WSManFaultError(
        500, "m", "r", "quota", wsman_fault_code=faults.SHELL_QUOTA
    )
    assert isinstance(map_error(fault), QuotaExceeded)
    other = map_error(winrm.exceptions.WSManFaultError(500, "m", "r", "no", wsman_fault_code=5))
    assert other.category == "protocol" and "5" in other.message


@pytest.mark.parametrize(("transport", "extra"), [("kerberos", "kerberos"), ("credssp", "credssp")])
async def test_optional_transports_say_which_extra_they_need(
    connector: WinRMConnector, transport: str, extra: str
) -> None:
    installed = {
        "kerberos": winrm.transport.HAVE_KERBEROS,
        "credssp": winrm.transport.HAVE_CREDSSP,
    }[transport]
    if installed:
        pytest.skip(f"the {extra} extra is installed here")
    where = Target(
        system_id="w",
        host="127.0.0.1",
        port=free_port(),
        username="u@EXAMPLE.COM",
        secret={"password": "p"},
        options={"transport": transport, "scheme": "https"},
    )
    with pytest.raises(Unsupported, match=rf"orca\[{extra}\]") as failure:
        await run(connector, where, "hostname", Shell.cmd)
    assert failure.value.started is False
