"""The WinRM connector against a real Windows host. Opt-in: CI never runs these (there is no
Windows machine here); they run when ORCA_TEST_WINRM_HOST is set, with

    ORCA_TEST_WINRM_USER, ORCA_TEST_WINRM_PASSWORD   an account allowed to use WinRM
    ORCA_TEST_WINRM_TRANSPORT   ntlm (default), basic, kerberos, credssp
    ORCA_TEST_WINRM_SCHEME      http (default) or https
    ORCA_TEST_WINRM_PORT        default 5985 / 5986 by scheme
    ORCA_TEST_WINRM_CA_BUNDLE   a PEM file of CAs to trust (https)
    ORCA_TEST_WINRM_CERT_VALIDATION  0 to skip certificate checks (https)

    ./scripts/test tests/connectors/test_winrm_windows.py
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.connectors.base import ExecRequest, ExecResult, Target
from app.connectors.winrm import COMMAND_LINE_LIMIT, WinRMConnector
from app.models.enums import OutputStream, Shell
from tests.fixtures.output import Collector

HOST = os.environ.get("ORCA_TEST_WINRM_HOST")
pytestmark = pytest.mark.skipif(
    not HOST, reason="no Windows host: set ORCA_TEST_WINRM_HOST (and _USER, _PASSWORD) to run"
)


def windows() -> Target:
    assert HOST is not None
    options: dict[str, object] = {
        "transport": os.environ.get("ORCA_TEST_WINRM_TRANSPORT", "ntlm"),
        "scheme": os.environ.get("ORCA_TEST_WINRM_SCHEME", "http"),
    }
    if bundle := os.environ.get("ORCA_TEST_WINRM_CA_BUNDLE"):
        options["ca_bundle"] = Path(bundle).read_text()
    if os.environ.get("ORCA_TEST_WINRM_CERT_VALIDATION") == "0":
        options["cert_validation"] = False
    port = os.environ.get("ORCA_TEST_WINRM_PORT")
    return Target(
        system_id="windows",
        host=HOST,
        port=int(port) if port else None,
        username=os.environ.get("ORCA_TEST_WINRM_USER"),
        secret={"password": os.environ.get("ORCA_TEST_WINRM_PASSWORD", "")},
        options=options,
    )


@pytest.fixture
async def connector() -> AsyncIterator[WinRMConnector]:
    instance = WinRMConnector(max_threads=8)
    yield instance
    await instance.close()


async def run(
    connector: WinRMConnector,
    command: str,
    shell: Shell = Shell.powershell,
    limit: float = 120,
    env: dict[str, str] | None = None,
) -> tuple[Collector, ExecResult]:
    sink = Collector()
    request = ExecRequest(command=command, shell=shell, env=env or {}, timeout=limit)
    return sink, await connector.execute(windows(), request, sink, asyncio.Event())


async def test_cmd_output_and_exit_code(connector: WinRMConnector) -> None:
    sink, result = await run(connector, "echo hello& exit /b 3", Shell.cmd)
    assert result.exit_code == 3
    assert sink.text(OutputStream.stdout).strip() == "hello"


async def test_powershell_streams_before_it_ends(connector: WinRMConnector) -> None:
    started = time.monotonic()
    sink, result = await run(
        connector, '1..4 | ForEach-Object { "tick $_"; Start-Sleep -Milliseconds 800 }'
    )
    ended = time.monotonic()
    assert result.exit_code == 0
    assert sink.text(OutputStream.stdout).split() == [
        "tick",
        "1",
        "tick",
        "2",
        "tick",
        "3",
        "tick",
        "4",
    ]
    assert sink.times[0] - started < ended - started - 1.5


async def test_powershell_errors_are_text_and_utf8_survives(connector: WinRMConnector) -> None:
    sink, result = await run(connector, "'Grüße ✓ 東京'\nWrite-Error 'boom'\nexit 2")
    assert result.exit_code == 2
    assert sink.text(OutputStream.stdout) == "Grüße ✓ 東京\r\n"
    stderr = sink.text(OutputStream.stderr)
    assert "boom" in stderr and "CLIXML" not in stderr and "<Objs" not in stderr


async def test_environment(connector: WinRMConnector) -> None:
    sink, _ = await run(connector, "$env:ORCA_RELEASE", env={"ORCA_RELEASE": "4.2"})
    assert sink.text(OutputStream.stdout).strip() == "4.2"


async def test_a_long_script_runs_from_an_upload(connector: WinRMConnector) -> None:
    padding = "".join(f"# padding line {n}\n" for n in range(COMMAND_LINE_LIMIT // 10))
    script = f'{padding}$sum = 0\n1..100 | ForEach-Object {{ $sum += $_ }}\n"sum=$sum"\n'
    sink, result = await run(connector, script)
    assert result.exit_code == 0
    assert sink.text(OutputStream.stdout).strip() == "sum=5050"
    sink, _ = await run(connector, "(Get-ChildItem $env:TEMP -Filter 'orca-*.ps1.b64').Count")
    assert sink.text(OutputStream.stdout).strip() == "0"


async def test_a_timeout_kills_the_process_tree(connector: WinRMConnector) -> None:
    script = (
        "$child = Start-Process -FilePath ping.exe -ArgumentList '-t','127.0.0.1' "
        "-WindowStyle Hidden -PassThru\n"
        '"child $($child.Id)"\n'
        "Start-Sleep -Seconds 600\n"
    )
    sink, result = await run(connector, script, limit=8)
    assert result.timed_out
    match = re.search(r"child (\d+)", sink.text(OutputStream.stdout))
    assert match, sink.text(OutputStream.stdout)
    probe = (
        f"if (Get-Process -Id {match.group(1)} -ErrorAction SilentlyContinue) "
        "{ 'alive' } else { 'gone' }"
    )
    sink, _ = await run(connector, probe)
    assert sink.text(OutputStream.stdout).strip() == "gone"
