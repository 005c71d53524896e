"""`orca run` against a real API and worker, on local-connector systems: every line once,
prefixed and in order per system, across dropped connections; the exit code says whether
every system succeeded; Ctrl-C cancels."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client.conftest import Orca, Server, admin_headers, unique
from tests.fixtures.processes import wait_for
from tests.fixtures.proxy import FaultyProxy

pytestmark = pytest.mark.slow

SUMMARY = re.compile(r"^job ([0-9a-f-]{36}) (\w+) in [\d.ms]+: (.*)$", re.M)


def _lines(stdout: str) -> dict[str, list[str]]:
    """Output lines by system: `name | text` (stdout) and `name ! text` (stderr)."""
    by_system: dict[str, list[str]] = defaultdict(list)
    for line in stdout.splitlines():
        match = re.fullmatch(r"(\S+) +([|!]) (.*)", line)
        assert match, f"not a prefixed line: {line!r}"
        by_system[match.group(1)].append(f"{match.group(2)} {match.group(3)}")
    return by_system


def test_run_streams_every_systems_output_prefixed(
    orca: Orca, server: Server, local_systems: list[str]
) -> None:
    group = unique("grp")
    headers = admin_headers(server)
    made = httpx.post(f"{server.url}/api/v1/groups", json={"name": group}, headers=headers)
    assert made.status_code == 201, made.text
    ids = [orca.json("systems", "show", name)["id"] for name in local_systems[:2]]
    added = httpx.post(
        f"{server.url}/api/v1/groups/{made.json()['id']}/systems",
        json={"system_ids": ids},
        headers=headers,
    )
    assert added.status_code < 300, added.text
    tag = local_systems[0].split("-")[1]
    result = orca(
        "run", "-t", f"group:{group}", "-t", f"label:batch={tag}", "--env", "WHO=orca",
        "--", 'echo "hello $WHO"; echo warn >&2; printf part; sleep 0.2; echo "ial"; printf tail',
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    width = max(len(name) for name in local_systems)
    for name in local_systems:
        head = name.ljust(width)
        assert f"{head} | hello orca\n" in result.stdout
        assert f"{head} ! warn\n" in result.stdout
    lines = _lines(result.stdout)
    assert sorted(lines) == sorted(local_systems)
    for name in local_systems:
        stdout = [line for line in lines[name] if line.startswith("|")]
        assert stdout == ["| hello orca", "| partial", "| tail"]  # partial lines joined
        assert [line for line in lines[name] if line.startswith("!")] == ["! warn"]
    (summary,) = SUMMARY.findall(result.stderr)
    assert summary[1:] == ("succeeded", "3 succeeded")


def test_run_fails_when_one_system_fails(orca: Orca, local_systems: list[str]) -> None:
    # The first system to get here loses (the same command runs on every system).
    flag = Path(f"/tmp/orca-cli-test-{uuid.uuid4().hex}")
    command = f"if mkdir {flag} 2>/dev/null; then echo lost >&2; exit 3; fi; echo fine"
    targets = [arg for name in local_systems for arg in ("-t", name)]
    try:
        result = orca("run", *targets, "--", command)
    finally:
        flag.rmdir()
    assert result.exit_code == 1, result.stderr
    (summary,) = SUMMARY.findall(result.stderr)
    assert summary[1:] == ("failed", "2 succeeded, 1 failed")
    lines = _lines(result.stdout)
    assert sorted(lines.values()) == [["! lost"], ["| fine"], ["| fine"]]
    (loser,) = [name for name, text in lines.items() if text == ["! lost"]]
    assert re.search(rf"^  {re.escape(loser)} +failed +exit 3$", result.stderr, re.M)


def test_run_json_reports_every_system(orca: Orca, local_systems: list[str]) -> None:
    result = orca("run", "-t", local_systems[0], "-t", local_systems[1], "--json", "--",
                  "echo out; echo err >&2; printf 'no newline'; exit 4")  # fmt: skip
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["job"]["status"] == "failed"
    assert document["job"]["counts"]["failed"] == 2
    rows = {e["system"]: e for e in document["executions"]}
    assert sorted(rows) == sorted(local_systems[:2])
    for row in rows.values():
        assert (row["status"], row["exit_code"]) == ("failed", 4)
        assert (row["stdout"], row["stderr"]) == ("out\nno newline", "err\n")
        assert row["output_dropped"] is False
    assert result.stderr == ""  # no progress, no notes


def test_an_unreachable_system_fails_the_run(orca: Orca, local_systems: list[str]) -> None:
    dead = unique("dead")
    added = orca("systems", "add", dead, "--host", "127.0.0.1", "--port", "1")
    assert added.exit_code == 0, added.stderr
    result = orca("run", "-t", local_systems[0], "-t", dead, "--", "echo up")
    assert result.exit_code == 1
    assert f"{local_systems[0]} | up\n" in result.stdout
    (summary,) = SUMMARY.findall(result.stderr)
    assert summary[1:] == ("failed", "1 succeeded, 1 error")
    assert re.search(rf"^  {dead} +error +refused: connection refused$", result.stderr, re.M)


def test_every_line_arrives_once_across_dropped_connections(
    orca: Orca, server: Server, local_systems: list[str]
) -> None:
    proxy = FaultyProxy(int(server.url.rsplit(":", 1)[1]))
    try:
        url = f"http://127.0.0.1:{proxy.port}"
        orca.login(url)
        headers = admin_headers(server)
        name = local_systems[0]
        outputs: list[int] = []

        def cut_twice() -> None:
            """Reset every connection once the job's output is well under way, twice (output
            is flushed in chunks at least every 250 ms: one seq each)."""
            for seq in (3, 7):

                def reached(seq: int = seq) -> bool:
                    jobs = httpx.get(
                        f"{server.url}/api/v1/jobs",
                        params={"q": f"marker-{name}", "limit": 1},
                        headers=headers,
                    ).json()["items"]
                    if not jobs:
                        return False
                    (execution,) = httpx.get(
                        f"{server.url}/api/v1/jobs/{jobs[0]['id']}/executions", headers=headers
                    ).json()["items"]
                    return bool(execution["output"]["seq"] >= seq)

                wait_for(reached, 30, f"output seq {seq}", interval=0.02)
                proxy.reset()
                outputs.append(seq)

        cutter = threading.Thread(target=cut_twice, daemon=True)
        cutter.start()
        command = (
            f": marker-{name}; for i in $(seq 1 300); do echo line $i; "
            "[ $((i % 10)) = 0 ] && sleep 0.1; done"
        )
        result = orca("run", "-t", name, "--server", url, "--", command)
        cutter.join(5)
    finally:
        proxy.close()
    assert outputs == [3, 7], "the connections were not cut as planned"
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "".join(f"{name} | line {i}\n" for i in range(1, 301))
    assert result.stderr.count("connection lost") >= 2


def test_ctrl_c_cancels_the_job_and_a_second_one_stops_waiting(
    orca: Orca, server: Server, local_systems: list[str]
) -> None:
    headers = admin_headers(server)

    def start(command: str) -> tuple[Any, str]:
        run = orca.process("run", "-t", local_systems[0], "--", command)
        first = run.stderr.readline()  # "job <id> on 1 system(s)"
        match = re.match(r"job ([0-9a-f-]{36}) on 1 system", first)
        assert match, first
        job_id = match.group(1)

        def running() -> bool:
            job = httpx.get(f"{server.url}/api/v1/jobs/{job_id}", headers=headers).json()
            return bool(job["counts"]["running"] == 1)

        wait_for(running, 30, "the job to run")
        return run, job_id

    run, job_id = start("echo started; sleep 60")
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 1, err
    assert f"Ctrl-C: cancelling job {job_id}" in err
    (summary,) = SUMMARY.findall(err)
    assert summary == (job_id, "cancelled", "1 cancelled")
    assert out == f"{local_systems[0]} | started\n"
    job = httpx.get(f"{server.url}/api/v1/jobs/{job_id}", headers=headers).json()
    assert job["status"] == "cancelled"

    # A command that shrugs off TERM takes its grace period to stop: a second Ctrl-C leaves.
    run, job_id = start("trap '' TERM; echo stubborn; sleep 60")
    run.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 10
    while "cancelling" not in (line := run.stderr.readline()):
        assert time.monotonic() < deadline, line
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=10)
    assert run.returncode == 130, err
    assert f"stopped following job {job_id}; it is stopping on the server" in err
    job = httpx.get(f"{server.url}/api/v1/jobs/{job_id}", headers=headers).json()
    assert job["cancel_requested_at"] is not None and job["status"] == "running"


def test_detach_dry_run_and_refusals(orca: Orca, local_systems: list[str]) -> None:
    tag = local_systems[0].split("-")[1]
    detached = orca("run", "-t", f"label:batch={tag}", "--detach", "--", "true")
    assert detached.exit_code == 0, detached.stderr
    job_id = detached.stdout.strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", job_id)
    assert orca.json("jobs", "show", job_id)["job"]["target_count"] == 3

    preview = orca("run", "-t", f"label:batch={tag}", "--dry-run", "--", "true")
    assert preview.exit_code == 0, preview.stderr
    assert "3 system(s) match (3 linux)" in preview.stderr
    assert all(name in preview.stdout for name in local_systems)
    nothing = orca("run", "-t", "label:batch=nothing-has-this", "--dry-run", "--", "true")
    assert nothing.exit_code == 1
    assert nothing.stderr.endswith("error: no system matches these targets\n")

    # The API's validation names the field.
    too_long = orca("run", "-t", local_systems[0], "--timeout", "2d", "--", "true")
    assert too_long.exit_code == 2
    assert too_long.stderr.startswith("error: Invalid timeout_seconds: ")
    unknown = orca("run", "-t", "group:no-such-group", "--", "true")
    assert unknown.exit_code == 2
    assert "no-such-group" in unknown.stderr
    no_command = orca("run", "-t", local_systems[0])
    assert no_command.exit_code == 2
    assert "give a command after --" in no_command.stderr


def test_a_run_that_cannot_start_says_why(orca: Orca) -> None:
    name = unique("solo")
    added = orca(
        "systems", "add", name, "--host", "localhost", "--connector", "local",
        "--max-concurrency", "1",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    busy = orca("run", "-t", name, "--detach", "--", "sleep 4")
    assert busy.exit_code == 0, busy.stderr
    result = orca("run", "-t", name, "--", "echo at last")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{name} | at last\n"
    assert (
        "nothing has started yet: waiting for the system: it already runs 1 execution(s), "
        "its limit\n" in result.stderr
    )
