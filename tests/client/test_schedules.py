"""`orca schedules create|ls|show|pause|resume|runs|delete|preview` and `orca retention report`
against a real API and worker (ticking every second)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from tests.client.conftest import Orca, Server, unique
from tests.fixtures.processes import ORCA, wait_for

pytestmark = pytest.mark.slow

BERLIN = ZoneInfo("Europe/Berlin")


def _make_due(server: Server, schedule_id: str) -> None:
    """Move a schedule's next due time a minute into the past, as if it had just come due
    (a real due time would keep the test waiting for the minute)."""

    async def move() -> None:
        connection = await asyncpg.connect(server.database_url.replace("+asyncpg", ""))
        try:
            await connection.execute(
                "UPDATE schedules SET next_run_at = date_trunc('minute', now()) - interval "
                "'1 minute' WHERE id = $1",
                schedule_id,
            )
        finally:
            await connection.close()

    asyncio.run(move())


def test_create_show_pause_resume_runs_and_delete(
    orca: Orca, server: Server, local_systems: list[str], tmp_path: Path
) -> None:
    template_file = tmp_path / "t.json"
    template_file.write_text(
        json.dumps(
            {
                "name": unique("nightly"),
                "shell": "sh",
                "command": "echo keep={{ keep }}",
                "targets": {"systems": local_systems[:1]},
                "parameters": [{"name": "keep", "type": "integer", "minimum": 1}],
            }
        )
    )
    template = orca.json("templates", "create", "-f", str(template_file))
    name = unique("backup")

    refused = orca(
        "schedules", "create", name, "--template", template["name"], "--cron", "0 3 * * *",
        "-p", "keep=0",
    )  # fmt: skip
    assert refused.exit_code == 2
    assert refused.stderr == "error: parameters.keep: must be at least 1\n"
    bad_cron = orca("schedules", "create", name, "-T", template["name"], "--cron", "0 25 * * *")
    assert bad_cron.exit_code == 2
    assert "cron" in bad_cron.stderr

    created = orca(
        "schedules", "create", name, "--template", template["name"], "--cron", "0 3 * * *",
        "--tz", "Europe/Berlin", "-p", "keep=7", "--missed", "run_once", "--grace", "10m",
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    assert created.stderr.startswith(f"Created schedule {name} (")
    assert re.search(r"^cron +0 3 \* \* \*  \(Europe/Berlin\)$", created.stdout, re.M)
    assert re.search(r"^missed runs +run_once when more than 10m00s late$", created.stdout, re.M)
    assert re.search(r"^overlap +skipped while its last job runs$", created.stdout, re.M)
    next_lines = re.findall(r"(\d{4}-\d\d-\d\d 03:00 CES?T)  in \S+", created.stdout)
    assert len(next_lines) == 5, created.stdout

    shown = orca.json("schedules", "show", name)
    assert (shown["cron"], shown["timezone"], shown["enabled"]) == (
        "0 3 * * *", "Europe/Berlin", True,
    )  # fmt: skip
    assert (shown["parameters"], shown["missed_policy"], shown["grace_seconds"]) == (
        {"keep": 7}, "run_once", 600,
    )  # fmt: skip
    due = [datetime.fromisoformat(each).astimezone(BERLIN) for each in shown["next_runs"]]
    assert [(d.hour, d.minute) for d in due] == [(3, 0)] * 5
    human = orca("schedules", "show", name)
    assert re.search(r"^last run +never$", human.stdout, re.M)
    assert f"{next_lines[0]}  in " in human.stdout

    listed = orca("schedules", "ls", "-q", name)
    header, row = listed.stdout.splitlines()
    assert header.split() == [
        "NAME", "TEMPLATE", "CRON", "ZONE", "STATE", "NEXT", "LAST", "OWNER",
    ]  # fmt: skip
    assert re.match(
        rf"^{name} +{template['name']} +0 3 \* \* \* +Europe/Berlin +enabled +"
        rf"{next_lines[0]} +- +chief$",
        row,
    ), row
    assert [s["name"] for s in orca.json("schedules", "ls", "--template", template["id"])] == [name]

    paused = orca("schedules", "pause", name)
    assert paused.exit_code == 0, paused.stderr
    assert paused.stderr == f"Paused {name}: no runs until `orca schedules resume`.\n"
    shown = orca.json("schedules", "show", shown["id"])
    assert (shown["enabled"], shown["next_run_at"], shown["next_runs"]) == (False, None, [])
    assert name in [s["name"] for s in orca.json("schedules", "ls", "--paused", "--all")]
    assert name not in [s["name"] for s in orca.json("schedules", "ls", "--enabled", "--all")]
    resumed = orca.json("schedules", "resume", name)
    assert resumed["enabled"] is True and resumed["next_run_at"] is not None

    empty = orca("schedules", "runs", name)
    assert empty.exit_code == 0 and empty.stdout == ""
    assert empty.stderr == f"{name} has not come due yet\n"

    # Due now: the workers' tick launches it, and the history says so with its job.
    _make_due(server, shown["id"])
    (run,) = wait_for(
        lambda: orca.json("schedules", "runs", name), 30, "the schedule to run", interval=0.3
    )
    assert (run["status"], run["message"]) == ("launched", None)
    table = orca("schedules", "runs", name)
    header, line = table.stdout.splitlines()
    assert header.split() == ["DUE", "STATUS", "JOB", "MESSAGE"]
    assert re.match(rf"^\S+ \S+ CES?T +launched +{run['job_id']}$", line), line
    followed = orca("jobs", "logs", run["job_id"], "--follow")
    assert followed.exit_code == 0, followed.stderr
    assert followed.stdout == "keep=7\n"
    last = orca.json("schedules", "show", name)["last_run"]
    assert (last["status"], last["job_id"]) == ("launched", run["job_id"])

    in_use = orca("templates", "delete", template["name"])
    assert in_use.exit_code == 2
    assert in_use.stderr.startswith("error: ")
    deleted = orca.json("schedules", "delete", name)
    assert deleted == {"deleted": True, "id": shown["id"], "name": name}
    gone = orca("schedules", "show", name)
    assert gone.exit_code == 2
    assert gone.stderr == f"error: no schedule named {name!r}, or none you may see\n"
    assert orca("templates", "delete", template["name"]).exit_code == 0


def test_preview_and_retention_report(orca: Orca, server: Server) -> None:
    preview = orca("schedules", "preview", "30 2 * * *", "--tz", "Europe/Berlin", "-n", "3")
    assert preview.exit_code == 0, preview.stderr
    assert len(re.findall(r"^\d{4}-\d\d-\d\d 02:30 CES?T  in ", preview.stdout, re.M)) == 3
    assert len(orca.json("schedules", "preview", "@hourly")["next_runs"]) == 5
    bad_zone = orca("schedules", "preview", "@daily", "--tz", "Mars/Olympus")
    assert bad_zone.exit_code == 2
    assert "Mars/Olympus" in bad_zone.stderr

    report = orca.json("retention", "report")
    assert (report["output_days"], report["jobs_days"], report["output_before"]) == (0, 0, None)
    human = orca("retention", "report")
    assert human.exit_code == 0, human.stderr
    assert re.search(r"^output +kept with its job$", human.stdout, re.M)
    assert re.search(r"^jobs +kept for ever$", human.stdout, re.M)
    misplaced = orca("retention", "--dry-run", "report")
    assert misplaced.exit_code == 2

    # The server-side `orca retention` (the database, no login) is still there, unchanged.
    direct = subprocess.run(
        [*ORCA, "retention", "--dry-run"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert direct.returncode == 0, direct.stderr
    assert direct.stdout.startswith("policy: output: kept (ORCA_RETENTION_OUTPUT_DAYS=0)")
    assert "would remove: the output of 0 execution(s)" in direct.stdout
