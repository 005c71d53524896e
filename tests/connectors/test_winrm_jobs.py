"""Jobs on Windows systems through the whole engine (API, dispatch, arq worker, WinRM connector)
against the fake WinRM host, and one job across Linux (real sshd) and Windows systems."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.fixtures.engine import JOBS, Engine
from tests.fixtures.sshd import SshAccount, SshServer
from tests.winrm_server import Invocation, WinRMServer

pytestmark = pytest.mark.slow


async def test_one_job_across_linux_and_windows_systems(
    orca: Engine, sshd: SshServer, ssh_account: SshAccount, winrm_server: WinRMServer
) -> None:
    await orca.ssh_system(sshd, ssh_account, name="linux-1")
    await orca.ssh_system(sshd, ssh_account, name="linux-2")
    await orca.winrm_system(winrm_server, "ntlm-http", name="windows-1")
    await orca.winrm_system(winrm_server, "ntlm-https", name="windows-2")
    # `whoami` means the same on both: the user running the command.
    winrm_server.host.reply(r"^whoami$", stdout="orca-win\\orca-win\r\n", only="powershell")

    job = await orca.submit(
        {
            "command": "whoami",
            "targets": {"systems": ["linux-1", "linux-2", "windows-1", "windows-2"]},
        }
    )
    assert job["shell"] is None  # each system's own default: sh and PowerShell
    done = await orca.finished(job["id"], 60)
    assert done["status"] == "succeeded", done
    assert done["counts"]["succeeded"] == 4
    rows = {row["system_name"]: row for row in await orca.executions(job["id"])}
    for name in ("linux-1", "linux-2"):
        assert await orca.output(rows[name]["id"]) == f"{ssh_account.username}\n"
    for name in ("windows-1", "windows-2"):
        assert rows[name]["exit_code"] == 0
        assert await orca.output(rows[name]["id"]) == "orca-win\\orca-win\r\n"
    assert winrm_server.host.wait_idle().shells_open == 0


async def test_output_is_visible_while_a_windows_command_still_runs(
    orca: Engine, winrm_server: WinRMServer
) -> None:
    release = threading.Event()

    def deploy(invocation: Invocation) -> int:
        invocation.line("step 1 of 2")
        release.wait(30)
        invocation.line("step 2 of 2")
        return 0

    winrm_server.host.on(r"Invoke-Deploy", deploy, only="powershell")
    await orca.winrm_system(winrm_server, name="app-1")
    job = await orca.submit({"command": "Invoke-Deploy", "targets": {"systems": ["app-1"]}})
    running = await orca.execution_where(
        job["id"], lambda e: e["status"] == "running" and e["output"]["seq"] > 0
    )
    assert await orca.output(running["id"]) == "step 1 of 2\r\n"
    release.set()
    assert (await orca.finished(job["id"]))["status"] == "succeeded"
    assert await orca.output(running["id"]) == "step 1 of 2\r\nstep 2 of 2\r\n"


async def test_cancel_timeout_and_refused_credentials(
    orca: Engine, winrm_server: WinRMServer
) -> None:
    def forever(invocation: Invocation) -> int:
        while True:
            invocation.line("working")
            invocation.sleep(0.2)

    winrm_server.host.on(r"Start-Service", forever, only="powershell")
    await orca.winrm_system(winrm_server, name="svc-1")
    await orca.winrm_system(winrm_server, name="svc-2")
    await orca.winrm_system(winrm_server, name="locked", password="wrong")

    job = await orca.submit({"command": "Start-Service x", "targets": {"systems": ["svc-1"]}})
    running = await orca.execution_where(
        job["id"], lambda e: e["status"] == "running" and e["output"]["seq"] > 0
    )
    await orca.post(f"/api/v1/executions/{running['id']}/cancel")
    assert (await orca.finished(job["id"], 30))["status"] == "cancelled"
    stats = winrm_server.host.wait_idle()
    assert stats.shells_open == 0 and stats.processes_alive == 0 and stats.processes_killed == 1

    job = await orca.submit(
        {
            "command": "Start-Service x",
            "timeout_seconds": 2,
            "targets": {"systems": ["svc-2", "locked"]},
        }
    )
    await orca.finished(job["id"], 30)
    rows = {row["system_name"]: row for row in await orca.executions(job["id"])}
    assert rows["svc-2"]["status"] == "timed_out"
    assert rows["locked"]["status"] == "error"
    assert rows["locked"]["error"]["code"] == "auth"
    assert winrm_server.host.wait_idle().shells_open == 0


async def test_systems_api_for_windows(orca: Engine, winrm_server: WinRMServer) -> None:
    plain = await orca.winrm_system(winrm_server, "ntlm-http", name="plain")
    assert plain["kind"] == "windows" and plain["options"]["transport"] == "ntlm"
    tested = await orca.post(f"/api/v1/systems/{plain['id']}/test")
    assert tested["ok"] is True

    # The port follows the scheme when it was the default.
    credential = plain["credential_id"]
    default = await orca.post(
        "/api/v1/systems",
        {"name": "dflt", "connector": "winrm", "host": "10.0.0.9", "credential_id": credential},
    )
    assert (default["port"], default["kind"]) == (5985, "windows")
    response = await orca.client.patch(
        f"/api/v1/systems/{default['id']}",
        json={"options": {"scheme": "https"}},
        headers=orca.admin.headers,
    )
    assert response.json()["port"] == 5986, response.text

    # A Linux system moved to WinRM becomes a Windows one, on WinRM's port.
    moved = await orca.post(
        "/api/v1/systems", {"name": "to-windows", "connector": "local", "host": "localhost"}
    )
    response = await orca.client.patch(
        f"/api/v1/systems/{moved['id']}",
        json={"connector": "winrm", "host": "10.0.0.10", "credential_id": credential},
        headers=orca.admin.headers,
    )
    assert response.status_code == 200, response.text
    assert (response.json()["kind"], response.json()["port"]) == ("windows", 5985)

    bad: list[tuple[dict[str, Any], str]] = [
        ({"options": {"transport": "basic"}}, "options"),
        ({"options": {"transport": "certificate", "scheme": "https"}}, "credential_id"),
        ({"options": {"codepage": 0}}, "options.codepage"),
        ({"options": {"ca_bundle": "nope"}}, "options.ca_bundle"),
        ({"kind": "linux"}, "kind"),
    ]
    for extra, field in bad:
        response = await orca.client.post(
            "/api/v1/systems",
            json={
                "name": "bad",
                "connector": "winrm",
                "host": "10.0.0.9",
                "credential_id": credential,
                **extra,
            },
            headers=orca.admin.headers,
        )
        assert response.status_code == 400, (extra, response.text)
        assert response.json()["error"]["details"][0]["field"] == field, response.text

    # A certificate nobody trusts: the health says so, distinctly.
    untrusted = await orca.winrm_system(
        winrm_server, "ntlm-https", name="untrusted", ca_bundle=None
    )
    tested = await orca.post(f"/api/v1/systems/{untrusted['id']}/test")
    assert tested["ok"] is False and tested["category"] == "tls"
    assert (await orca.get(f"/api/v1/systems/{untrusted['id']}"))["health_status"] == "tls_error"

    # Turning certificate checks off works, and leaves an explicit audit row.
    response = await orca.client.patch(
        f"/api/v1/systems/{untrusted['id']}",
        json={"options": {"scheme": "https", "cert_validation": False}},
        headers=orca.admin.headers,
    )
    assert response.status_code == 200, response.text
    tested = await orca.post(f"/api/v1/systems/{untrusted['id']}/test")
    assert tested["ok"] is True
    relaxed = (await orca.get("/api/v1/audit", action="system.security_relaxed"))["items"]
    assert [event["details"]["settings"] for event in relaxed] == [["cert_validation"]]
    assert relaxed[0]["target_id"] == untrusted["id"]


async def test_the_job_api_refuses_shells_a_windows_system_cannot_run(
    orca: Engine, winrm_server: WinRMServer
) -> None:
    await orca.winrm_system(winrm_server, name="w1")
    response = await orca.client.post(
        JOBS,
        json={"command": "ls", "shell": "bash", "targets": {"systems": ["w1"]}},
        headers=orca.admin.headers,
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "shell"
    assert winrm_server.host.requests == []  # nothing was sent to the host
