"""`orca jobs ls|show|logs|cancel|rerun` against a real API and worker."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import Orca
from tests.fixtures.processes import wait_for

pytestmark = pytest.mark.slow


def _submit(orca: Orca, systems: list[str], command: str) -> str:
    targets = [arg for name in systems for arg in ("-t", name)]
    result = orca("run", *targets, "--detach", "--", command)
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def _finished(orca: Orca, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        shown = orca.json("jobs", "show", job_id)
        return shown if shown["job"]["status"] in {"succeeded", "failed", "cancelled"} else None

    return dict(wait_for(done, 30, f"job {job_id} to finish", interval=0.2))


def test_list_show_and_read_a_job(orca: Orca, local_systems: list[str]) -> None:
    first, second = local_systems[:2]
    job_id = _submit(orca, [first, second], "echo out-$((20 + 22)); echo err >&2")
    followed = orca("jobs", "logs", job_id, "--follow")
    assert followed.exit_code == 0, followed.stderr
    assert sorted(followed.stdout.splitlines()) == sorted(
        [f"{first} | out-42", f"{first} ! err", f"{second} | out-42", f"{second} ! err"]
    )

    listed = orca.json("jobs", "ls", "--status", "succeeded", "--system", first, "-n", "50")
    assert job_id in [job["id"] for job in listed]
    assert job_id not in [job["id"] for job in orca.json("jobs", "ls", "--status", "failed")]
    table = orca("jobs", "ls", "--mine", "-n", "5")
    assert table.exit_code == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == [
        "ID", "NAME", "STATUS", "DONE", "BY", "CREATED", "TOOK",
    ]  # fmt: skip
    assert re.search(rf"^{job_id} .* succeeded +2/2 +chief ", table.stdout, re.M)

    shown = orca.json("jobs", "show", job_id)
    assert shown["job"]["id"] == job_id
    assert [(e["system_name"], e["status"]) for e in shown["executions"]] == [
        (first, "succeeded"),
        (second, "succeeded"),
    ]
    human = orca("jobs", "show", "last")
    assert human.exit_code == 0, human.stderr
    assert re.search(rf"^job +{job_id}$", human.stdout, re.M)
    assert re.search(rf"^{first} +succeeded +0 ", human.stdout, re.M)

    # Stored output, system by system in target order, every line once.
    logs = orca("jobs", "logs", job_id)
    assert logs.exit_code == 0, logs.stderr
    assert logs.stdout == (f"{first} | out-42\n{first} ! err\n{second} | out-42\n{second} ! err\n")
    one = orca("jobs", "logs", job_id, "--system", second)
    assert one.stdout == "out-42\nerr\n"  # one system: no prefix
    only_stdout = orca("jobs", "logs", job_id, "--system", second, "--stream", "stdout")
    assert only_stdout.stdout == "out-42\n"
    as_json = orca.json("jobs", "logs", job_id)
    assert [(row["system"], row["stdout"], row["stderr"]) for row in as_json] == [
        (first, "out-42\n", "err\n"),
        (second, "out-42\n", "err\n"),
    ]
    elsewhere = orca("jobs", "logs", job_id, "--system", local_systems[2])
    assert elsewhere.exit_code == 2
    assert f"did not run on '{local_systems[2]}'" in elsewhere.stderr
    not_an_id = orca("jobs", "show", "yesterday")
    assert not_an_id.exit_code == 2 and "is not a job id" in not_an_id.stderr


def test_follow_streams_a_running_job_and_exits_as_run_does(
    orca: Orca, local_systems: list[str]
) -> None:
    job_id = _submit(orca, local_systems[:1], "for i in 1 2 3; do echo $i; sleep 0.3; done")
    followed = orca("jobs", "logs", job_id, "--follow")
    assert followed.exit_code == 0, followed.stderr
    assert followed.stdout == "1\n2\n3\n"
    failing = _submit(orca, local_systems[:1], "sleep 0.3; echo bye; exit 2")
    followed = orca("jobs", "logs", failing, "-f")
    assert followed.exit_code == 1
    assert followed.stdout == "bye\n"


def test_cancel_and_rerun(orca: Orca, local_systems: list[str]) -> None:
    flag = Path(f"/tmp/orca-cli-test-{uuid.uuid4().hex}")
    try:
        original = _submit(
            orca, local_systems, f"if mkdir {flag} 2>/dev/null; then exit 5; fi; echo ok"
        )
        shown = _finished(orca, original)
        assert shown["job"]["counts"]["failed"] == 1
        (failed,) = [e["system_name"] for e in shown["executions"] if e["status"] == "failed"]

        only_failed = orca.json("jobs", "rerun", original, "--failed")
        assert only_failed["source_job_id"] == original
        assert only_failed["target_count"] == 1
        assert [e["system_name"] for e in _finished(orca, only_failed["id"])["executions"]] == [
            failed
        ]
        everything = orca("jobs", "rerun", original, "--follow")
        assert everything.exit_code == 0, everything.stderr  # the flag exists: all succeed
        assert sorted(everything.stdout.splitlines()) == sorted(
            f"{name.ljust(max(map(len, local_systems)))} | ok" for name in local_systems
        )
    finally:
        flag.rmdir()

    sleeper = _submit(orca, local_systems[:1], "sleep 60")
    wait_for(
        lambda: orca.json("jobs", "show", sleeper)["job"]["counts"]["running"] == 1,
        30,
        "the job to run",
        interval=0.2,
    )
    cancelled = orca("jobs", "cancel", sleeper)
    assert cancelled.exit_code == 0, cancelled.stderr
    assert f"Job {sleeper}: cancel requested" in cancelled.stderr
    assert _finished(orca, sleeper)["job"]["status"] == "cancelled"
    again = orca("jobs", "cancel", sleeper)
    assert again.exit_code == 2
    assert again.stderr == "error: the job has already finished (cancelled)\n"
