"""Jobs over SSH against real sshd servers: a fan-out with every kind of outcome, and a cancel
that reaches the remote process."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from app.core.embedded import free_port
from tests.fixtures.engine import JOBS, Engine, wait_for
from tests.fixtures.keys import make_ssh_key
from tests.fixtures.processes import process_alive
from tests.fixtures.sshd import SshAccount, SshServer

pytestmark = pytest.mark.slow


async def test_fan_out_to_twenty_systems_with_mixed_outcomes(
    orca: Engine,
    make_sshd: Callable[..., SshServer],
    ssh_account: SshAccount,
    tmp_path: Any,
) -> None:
    servers = await asyncio.gather(*(asyncio.to_thread(make_sshd) for _ in range(16)))
    ok, exit3, slow = servers[:13], servers[13:15], servers[15]
    expected: dict[str, tuple[str, int | None, str | None]] = {}
    for index, server in enumerate(ok):
        await orca.ssh_system(server, ssh_account, name=f"ok-{index}")
        expected[f"ok-{index}"] = ("succeeded", 0, None)
    for index, server in enumerate(exit3):
        await orca.ssh_system(server, ssh_account, name=f"three-{index}")
        expected[f"three-{index}"] = ("failed", 3, None)
    await orca.ssh_system(slow, ssh_account, name="slow")
    expected["slow"] = ("timed_out", None, "timeout")
    for index in range(2):
        await orca.ssh_system(None, ssh_account, name=f"gone-{index}", port=free_port())
        expected[f"gone-{index}"] = ("error", None, "unreachable")
    stranger = make_ssh_key(tmp_path, "ed25519")
    for index in range(2):
        await orca.ssh_system(
            ok[index],
            ssh_account,
            name=f"locked-{index}",
            credential={"kind": "ssh-key", "secret": {"private_key": stranger.private}},
        )
        expected[f"locked-{index}"] = ("error", None, "auth")

    # One script for all: what it does depends on which server it reached.
    script = (
        'port="${SSH_CONNECTION##* }"\n'
        f'case "$port" in {exit3[0].port}|{exit3[1].port}) exit 3;; {slow.port}) sleep 120;; esac\n'
        "echo ok from $port\n"
    )
    job = await orca.submit(
        {
            "script": script,
            "timeout_seconds": 5,
            "targets": {"systems": list(expected)},
        }
    )
    assert job["target_count"] == 20
    done = await orca.finished(job["id"], 90)
    assert done["status"] == "failed"
    rows = await orca.executions(job["id"])
    got = {
        row["system_name"]: (
            row["status"],
            row["exit_code"],
            row["error"]["code"] if row["error"] else None,
        )
        for row in rows
    }
    assert got == expected
    assert Counter(status for status, _, _ in got.values()) == {
        "succeeded": 13,
        "failed": 2,
        "timed_out": 1,
        "error": 4,
    }
    assert done["counts"] == {
        "pending": 0,
        "queued": 0,
        "running": 0,
        "succeeded": 13,
        "failed": 2,
        "timed_out": 1,
        "error": 4,
        "cancelled": 0,
    }
    by_name = {row["system_name"]: row for row in rows}
    port = ok[4].port
    assert await orca.output(by_name["ok-4"]["id"]) == f"ok from {port}\n"
    assert by_name["gone-0"]["error"]["reason"] == "refused"

    rerun = await orca.post(f"{JOBS}/{job['id']}/rerun", {"only": "failed"})
    assert rerun["target_count"] == 7


async def test_cancel_stops_the_remote_process(
    orca: Engine, sshd: SshServer, ssh_account: SshAccount
) -> None:
    await orca.ssh_system(sshd, ssh_account, name="remote")
    job = await orca.submit(
        {"command": "sleep 300 & echo $!; wait", "targets": {"systems": ["remote"]}}
    )
    running = await orca.execution_where(
        job["id"], lambda e: e["status"] == "running" and e["output"]["seq"] > 0
    )
    pid = int((await orca.output(running["id"])).split()[0])
    assert process_alive(pid)  # sshd runs on this machine: the "remote" process is visible here
    response = await orca.client.post(
        f"/api/v1/executions/{running['id']}/cancel", headers=orca.admin.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["waiting"]["code"] == "cancelling"
    assert (await orca.finished(job["id"], 30))["status"] == "cancelled"

    async def gone() -> bool:
        return not process_alive(pid)

    await wait_for(gone, 15, "the remote sleep to be killed")
