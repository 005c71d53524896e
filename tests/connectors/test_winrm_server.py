"""The fake WinRM host is only useful if clients cannot tell it from Windows: pywinrm's
Session and Protocol, unmodified, and pypsrp's independent WinRS client, over every listener."""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import winrm
from pypsrp.exceptions import AuthenticationError
from pypsrp.shell import Process, SignalCode, WinRS
from pypsrp.wsman import WSMan
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WSManFaultError

from tests.fixtures.winrm import WINRM_PASSWORD, WINRM_USER
from tests.winrm_server import Invocation, WinRMServer
from tests.winrm_server import wsman as codes

PASSWORD_LISTENERS = ["basic-http", "basic-https", "ntlm-http", "ntlm-https"]


def session(
    server: WinRMServer, listener: str, password: str = WINRM_PASSWORD, **extra: Any
) -> winrm.Session:
    transport = "basic" if listener.startswith("basic") else "ntlm"
    options: dict[str, Any] = {"transport": transport, **extra}
    if listener.endswith("https"):
        options.setdefault("ca_trust_path", str(server.ca_path))
    return winrm.Session(server.url(listener), auth=(WINRM_USER, password), **options)


def protocol(server: WinRMServer, listener: str = "ntlm-http", **extra: Any) -> winrm.Protocol:
    options: dict[str, Any] = {
        "transport": "ntlm",
        "username": WINRM_USER,
        "password": WINRM_PASSWORD,
    }
    if listener.endswith("https"):
        options["ca_trust_path"] = str(server.ca_path)
    return winrm.Protocol(server.url(listener), **{**options, **extra})


@pytest.mark.parametrize("listener", PASSWORD_LISTENERS)
def test_pywinrm_run_cmd_and_run_ps(winrm_server: WinRMServer, listener: str) -> None:
    winrm_server.host.reply(r"^hello world$", stdout="hi there\r\n", exit_code=3)
    winrm_server.host.reply(r"Get-Thing", stdout="thing\r\n", stderr="bad thing", exit_code=1)
    client = session(winrm_server, listener)

    result = client.run_cmd("hello", ["world"])
    assert (result.status_code, result.std_out, result.std_err) == (3, b"hi there\r\n", b"")

    result = client.run_ps("Get-Thing -Name x")
    assert result.status_code == 1
    assert result.std_out == b"thing\r\n"
    # pywinrm's own CLIXML clean-up understood our stderr.
    assert result.std_err.startswith(b"Write-Error : bad thing\n")
    assert b"CategoryInfo" in result.std_err

    stats = winrm_server.host.stats()
    assert stats.shells_open == 0 and stats.commands_unterminated == 0
    assert stats.signals == ("terminate", "terminate")


def test_pywinrm_certificate_authentication(winrm_server: WinRMServer, tmp_path: Path) -> None:
    cert, key = winrm_server.client_certificate(WINRM_USER).write(tmp_path, "client")
    client = winrm.Session(
        winrm_server.url("cert-https"),
        auth=("", ""),
        transport="certificate",
        cert_pem=str(cert),
        cert_key_pem=str(key),
        ca_trust_path=str(winrm_server.ca_path),
    )
    result = client.run_cmd("whoami")
    assert result.std_out == b"orca-win\\orca-win\r\n"


@pytest.mark.parametrize("listener", PASSWORD_LISTENERS)
def test_a_wrong_password_is_a_401(winrm_server: WinRMServer, listener: str) -> None:
    with pytest.raises(InvalidCredentialsError):
        session(winrm_server, listener, password="not-it").run_cmd("hostname")
    assert winrm_server.host.stats().shells_created == 0


def test_channel_binding_is_required_over_https(winrm_server: WinRMServer) -> None:
    with pytest.raises(InvalidCredentialsError):
        session(winrm_server, "ntlm-https", send_cbt=False).run_cmd("hostname")


def test_plaintext_is_refused_where_messages_must_be_sealed(winrm_server: WinRMServer) -> None:
    with pytest.raises(InvalidCredentialsError):
        session(winrm_server, "ntlm-http", message_encryption="never").run_cmd("hostname")
    assert winrm_server.host.stats().shells_created == 0


def test_the_server_certificate_must_be_trusted(winrm_server: WinRMServer) -> None:
    client = winrm.Session(
        winrm_server.url("ntlm-https"), auth=(WINRM_USER, WINRM_PASSWORD), transport="ntlm"
    )
    with pytest.raises(requests.exceptions.SSLError):
        client.run_cmd("hostname")


def test_a_client_certificate_not_mapped_to_an_account_is_refused(
    winrm_server: WinRMServer, tmp_path: Path
) -> None:
    # Signed by the right CA, but for an account the host does not map.
    cert, key = winrm_server.authority.client("stranger").write(tmp_path, "stranger")
    client = winrm.Session(
        winrm_server.url("cert-https"),
        auth=("", ""),
        transport="certificate",
        cert_pem=str(cert),
        cert_key_pem=str(key),
        ca_trust_path=str(winrm_server.ca_path),
    )
    with pytest.raises(InvalidCredentialsError):
        client.run_cmd("whoami")


def test_receive_returns_output_as_it_is_produced(winrm_server: WinRMServer) -> None:
    release = threading.Event()

    def slow(invocation: Invocation) -> int:
        invocation.line("first")
        release.wait(10)
        invocation.line("second")
        return 0

    winrm_server.host.on(r"^slow$", slow)
    client = protocol(winrm_server)
    shell = client.open_shell(codepage=65001)
    command = client.run_command(shell, "slow")
    stdout, _, _, done = client.get_command_output_raw(shell, command)
    assert (stdout, done) == (b"first\r\n", False)
    release.set()
    collected = b""
    while not done:
        out, _, code, done = client.get_command_output_raw(shell, command)
        collected += out
    assert (collected, code) == (b"second\r\n", 0)
    client.cleanup_command(shell, command)
    client.close_shell(shell)


def test_a_receive_with_nothing_to_say_times_out_with_the_windows_fault(
    winrm_server: WinRMServer,
) -> None:
    winrm_server.host.on(r"^quiet$", lambda invocation: invocation.sleep(30))
    client = protocol(winrm_server, operation_timeout_sec=1, read_timeout_sec=5)
    shell = client.open_shell()
    command = client.run_command(shell, "quiet")
    started = time.monotonic()
    with pytest.raises(WinRMOperationTimeoutError):
        client.get_command_output_raw(shell, command)
    assert 0.9 < time.monotonic() - started < 4
    client.cleanup_command(shell, command)
    client.close_shell(shell)
    assert winrm_server.host.wait_idle().processes_alive == 0


def test_output_larger_than_an_envelope_spans_several_rounds(winrm_server: WinRMServer) -> None:
    blob = bytes(range(256)) * 8192  # 2 MiB

    def big(invocation: Invocation) -> int:
        invocation.out(blob)
        return 0

    winrm_server.host.on(r"^big$", big)
    client = protocol(winrm_server)
    shell = client.open_shell()
    command = client.run_command(shell, "big")
    before = winrm_server.host.requests.count("Receive")
    stdout, _, code = client.get_command_output(shell, command)
    rounds = winrm_server.host.requests.count("Receive") - before
    assert stdout == blob and code == 0
    assert rounds >= len(blob) // (153600 * 3 // 4)
    client.cleanup_command(shell, command)
    client.close_shell(shell)


@pytest.mark.parametrize(
    ("codepage", "expected"),
    [(65001, "Grüße ✓ 東京".encode()), (437, "Grüße ? ??".encode("cp437"))],
)
def test_output_follows_the_shell_codepage(
    winrm_server: WinRMServer, codepage: int, expected: bytes
) -> None:
    winrm_server.host.on(r"^greet$", lambda invocation: invocation.out("Grüße ✓ 東京"))
    client = protocol(winrm_server)
    shell = client.open_shell(codepage=codepage)
    command = client.run_command(shell, "greet")
    stdout, _, _ = client.get_command_output(shell, command)
    assert stdout == expected
    client.cleanup_command(shell, command)
    client.close_shell(shell)


def test_environment_and_working_directory_reach_the_command(winrm_server: WinRMServer) -> None:
    client = protocol(winrm_server)
    shell = client.open_shell(working_directory="C:\\Work", env_vars={"ORCA_X": "1 2"})
    for line, expected in (("set ORCA_X", b"ORCA_X=1 2\r\n"), ("cd", b"C:\\Work\r\n")):
        command = client.run_command(shell, line)
        assert client.get_command_output(shell, command)[0] == expected
        client.cleanup_command(shell, command)
    client.close_shell(shell)


def test_an_unknown_command_is_not_recognized(winrm_server: WinRMServer) -> None:
    result = session(winrm_server, "ntlm-http").run_cmd("frobnicate", ["now"])
    assert result.status_code == 1
    assert result.std_err.startswith(b"'frobnicate' is not recognized")


def test_faults_carry_the_windows_codes(winrm_server: WinRMServer) -> None:
    client = protocol(winrm_server)
    with pytest.raises(WSManFaultError) as unknown:
        client.run_command("8C1C3B4E-0000-0000-0000-000000000000", "hostname")
    assert unknown.value.wsman_fault_code == codes.INVALID_SELECTORS
    assert unknown.value.fault_subcode == "w:InvalidSelectors"

    winrm_server.host.max_shells_per_user = 1
    first = client.open_shell()
    with pytest.raises(WSManFaultError) as quota:
        client.open_shell()
    assert quota.value.wsman_fault_code == codes.SHELL_QUOTA
    assert "maximum number of 1 concurrent shells" in quota.value.reason
    client.close_shell(first, close_session=False)
    client.close_shell(client.open_shell())


def test_counters_see_open_shells_unterminated_commands_and_signals(
    winrm_server: WinRMServer,
) -> None:
    winrm_server.host.on(r"^wait$", lambda invocation: invocation.sleep(30))
    client = protocol(winrm_server)
    shell = client.open_shell()
    command = client.run_command(shell, "wait")
    stats = winrm_server.host.stats()
    assert (stats.shells_open, stats.commands_running, stats.commands_unterminated) == (1, 1, 1)
    client.cleanup_command(shell, command)
    stats = winrm_server.host.wait_idle(timeout=0.5)
    assert (stats.shells_open, stats.commands_running, stats.commands_unterminated) == (1, 0, 0)
    assert stats.signals == ("terminate",)
    client.close_shell(shell)
    assert winrm_server.host.stats().shells_open == 0


def test_encoded_powershell_is_decoded_for_handlers(winrm_server: WinRMServer) -> None:
    seen: list[str] = []

    def record(invocation: Invocation) -> int:
        seen.append(invocation.script)
        invocation.warning("careful")
        return 7

    winrm_server.host.on(r"Get-Date", record, only="powershell")
    script = "$ProgressPreference = 'SilentlyContinue'\nGet-Date"
    encoded = base64.b64encode(script.encode("utf-16-le")).decode()
    client = protocol(winrm_server)
    shell = client.open_shell()
    command = client.run_command(shell, f"powershell -NoProfile -EncodedCommand {encoded}")
    _, stderr, code = client.get_command_output(shell, command)
    assert seen == ["Get-Date"] and code == 7
    # No progress record (silenced); the warning as Windows serialises it.
    assert stderr == (
        b'#< CLIXML\r\n<Objs Version="1.1.0.1" '
        b'xmlns="http://schemas.microsoft.com/powershell/2004/04"><S S="warning">careful</S></Objs>'
    )
    client.cleanup_command(shell, command)
    client.close_shell(shell)


def pypsrp_wsman(server: WinRMServer, listener: str, tmp_path: Path) -> WSMan:
    options: dict[str, Any] = {"operation_timeout": 5, "port": server.port(listener)}
    if listener == "cert-https":
        cert, key = server.client_certificate(WINRM_USER).write(tmp_path, "client")
        options.update(auth="certificate", certificate_pem=str(cert), certificate_key_pem=str(key))
    else:
        options.update(
            auth="basic" if listener.startswith("basic") else "negotiate",
            username=WINRM_USER,
            password=WINRM_PASSWORD,
        )
    if listener.endswith("https"):
        options.update(ssl=True, cert_validation=str(server.ca_path))
    else:
        options.update(ssl=False, encryption="never" if listener == "basic-http" else "auto")
    return WSMan("127.0.0.1", **options)


@pytest.mark.parametrize("listener", ["ntlm-http", "ntlm-https", "basic-https", "cert-https"])
def test_pypsrp_winrs_works_unmodified(
    winrm_server: WinRMServer, listener: str, tmp_path: Path
) -> None:
    winrm_server.host.reply(r"^hello x$", stdout="hi there\r\n", exit_code=3)

    def ticks(invocation: Invocation) -> int:
        for tick in range(100):
            invocation.line(f"tick {tick}")
            invocation.sleep(0.2)
        return 0

    winrm_server.host.on(r"^ticks$", ticks)
    with pypsrp_wsman(winrm_server, listener, tmp_path) as wsman, WinRS(wsman) as shell:
        process = Process(shell, "hello", ["x"])
        process.invoke()
        assert (process.rc, process.stdout, process.stderr) == (3, b"hi there\r\n", b"")

        process = Process(shell, "ticks")
        process.begin_invoke()
        process.poll_invoke()
        assert process.stdout == b"tick 0\r\n"
        process.signal(SignalCode.CTRL_C)
        process.end_invoke()
        assert process.rc == -1073741510  # STATUS_CONTROL_C_EXIT, as Windows reports it
    stats = winrm_server.host.wait_idle()
    assert stats.shells_open == 0 and stats.processes_alive == 0
    assert "ctrl_c" in stats.signals


def test_pypsrp_with_a_wrong_password_fails_to_authenticate(
    winrm_server: WinRMServer, tmp_path: Path
) -> None:
    wsman = WSMan(
        "127.0.0.1",
        port=winrm_server.port("ntlm-http"),
        ssl=False,
        auth="negotiate",
        username=WINRM_USER,
        password="wrong",
    )
    with pytest.raises(AuthenticationError), wsman, WinRS(wsman):
        pass
