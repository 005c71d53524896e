"""`orca templates ls|show|create|launch|delete` against a real API and worker, on
local-connector systems: values typed as the template defines them, the rendered command's
output streamed as `orca run` streams it, the API's refusals naming the parameter, and a secret
that reaches the command without showing anywhere."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import re
import select
import time
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import Orca, unique
from tests.fixtures.processes import ORCA

pytestmark = pytest.mark.slow

SUMMARY = re.compile(r"^job ([0-9a-f-]{36}) (\w+) in [\d.ms]+: (.*)$", re.M)
SECRET = "s3cr3t-Kx9-do-not-show"


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def _template(orca: Orca, tmp_path: Path, systems: list[str]) -> dict[str, Any]:
    document = {
        "name": unique("tpl"),
        "description": "a test template",
        "shell": "sh",
        # The secret reaches the command only as ORCA_PARAM_TOKEN: print its digest, not it.
        "command": (
            "echo count={{ count }} dry={{ dry }} env={{ env }} who={{ who }}; "
            'printf %s "$ORCA_PARAM_TOKEN" | sha256sum | cut -c1-16; exit {{ code }}'
        ),
        "targets": {"systems": systems},
        "parameters": [
            {"name": "count", "type": "integer", "minimum": 1, "maximum": 5},
            {"name": "dry", "type": "boolean", "required": False, "default": False},
            {"name": "env", "type": "choice", "choices": ["staging", "prod"]},
            {
                "name": "who",
                "type": "string",
                "max_length": 20,
                "pattern": "[A-Za-z' ]+",  # shown as it is, not taken for rich markup
                "description": "Who asks",
            },
            {"name": "token", "type": "secret"},
            {"name": "code", "type": "integer", "required": False, "default": 0},
        ],
    }
    file = tmp_path / "template.json"
    file.write_text(json.dumps(document))
    created = orca("templates", "create", "-f", str(file), "--json")
    assert created.exit_code == 0, created.stderr
    template = json.loads(created.stdout)
    assert (template["name"], template["version"]) == (document["name"], 1)
    return dict(template)


def test_list_show_and_launch_with_typed_values(
    orca: Orca, local_systems: list[str], tmp_path: Path
) -> None:
    systems = local_systems[:2]
    template = _template(orca, tmp_path, systems)
    name = template["name"]

    listed = orca.json("templates", "ls", "-q", name)
    assert [t["name"] for t in listed] == [name]
    table = orca("templates", "ls", "-q", name)
    assert table.exit_code == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split() == [
        "NAME", "RUNS", "TARGETS", "PARAMETERS", "VERSION", "BY", "YOU", "MAY",
    ]  # fmt: skip
    assert row.startswith(f"{name} ")
    assert "count,dry,env,who,token,code" in row and "launch,edit" in row

    shown = orca("templates", "show", name.upper())  # names compare without case
    assert shown.exit_code == 0, shown.stderr
    assert re.search(r"^shell +sh$", shown.stdout, re.M)
    assert re.search(rf"^targets +system:{systems[0]} system:{systems[1]}$", shown.stdout, re.M)
    assert re.search(r"^you may +launch,edit$", shown.stdout, re.M)
    assert re.search(r"^count +integer +yes +- +1\.\.5 +-$", shown.stdout, re.M)
    assert re.search(r"^dry +boolean +no +false +- +-$", shown.stdout, re.M)
    assert re.search(r"^env +choice +yes +- +one of staging, prod +-$", shown.stdout, re.M)
    assert re.search(
        r"^who +string +yes +- +at most 20 characters; matches \[A-Za-z' \]\+ +Who asks$",
        shown.stdout,
        re.M,
    )
    assert orca.json("templates", "show", template["id"])["parameters"][0]["name"] == "count"

    launched = orca(
        "templates", "launch", name, "-p", "count=3", "-p", "dry=true", "-p", "env=prod",
        "-p", "who=Ann O'Neil", "--secret-stdin", "token",
        input=SECRET + "\n",
    )  # fmt: skip
    assert launched.exit_code == 0, launched.stderr
    width = max(len(each) for each in systems)
    for system in systems:
        head = system.ljust(width)
        # Typed: 3 and true as written; the string quoted for sh, so it arrives whole.
        assert f"{head} | count=3 dry=true env=prod who=Ann O'Neil\n" in launched.stdout
        assert f"{head} | {_fingerprint(SECRET)}\n" in launched.stdout
    first = launched.stderr.splitlines()[0]
    match = re.fullmatch(rf"job ([0-9a-f-]{{36}}) on 2 system\(s\) from {name} v1", first)
    assert match, launched.stderr
    (summary,) = SUMMARY.findall(launched.stderr)
    assert summary == (match.group(1), "succeeded", "2 succeeded")

    # The secret shows nowhere: not in the output, the job, or the audit trail.
    job = orca.json("jobs", "show", match.group(1))
    assert job["job"]["template_id"] == template["id"]
    assert job["job"]["parameters"] == {
        "count": 3, "dry": True, "env": "prod", "who": "Ann O'Neil", "code": 0,
    }  # fmt: skip
    human = orca("jobs", "show", match.group(1))
    assert re.search(rf"^template +{template['id']} \(version 1\)$", human.stdout, re.M)
    assert "parameters code=0, count=3, dry=true, env=prod, who=Ann O'Neil" in " ".join(
        human.stdout.split()
    )
    audit = orca.json("audit", "ls", "--action", "template.launch", "--target-id", template["id"])
    assert len(audit) == 1
    for text in (launched.stdout, launched.stderr, json.dumps(job), json.dumps(audit)):
        assert SECRET not in text

    # A failing command fails the launch, as `orca run` does; --json is one document.
    failed = orca(
        "templates", "launch", template["id"], "-p", "count=1", "-p", "env=staging",
        "-p", "who=x", "-p", "code=3", "--secret-stdin", "token", "--json",
        input=SECRET,
    )  # fmt: skip
    assert failed.exit_code == 1, failed.stderr
    document = json.loads(failed.stdout)
    assert document["job"]["status"] == "failed"
    assert [(e["status"], e["exit_code"]) for e in document["executions"]] == [("failed", 3)] * 2
    assert document["executions"][0]["stdout"] == (
        f"count=1 dry=false env=staging who=x\n{_fingerprint(SECRET)}\n"
    )
    assert failed.stderr == ""

    detached = orca(
        "templates", "launch", name, "-p", "count=2", "-p", "env=prod", "-p", "who=y",
        "-p", f"token={SECRET}", "--detach",
    )  # fmt: skip
    assert detached.exit_code == 0, detached.stderr
    assert re.fullmatch(r"[0-9a-f-]{36}\n", detached.stdout)
    assert "warning: the secret token was given on the command line" in detached.stderr

    deleted = orca("templates", "delete", name)
    assert deleted.exit_code == 0, deleted.stderr
    gone = orca("templates", "show", name)
    assert gone.exit_code == 2
    assert gone.stderr == f"error: no template named {name!r}, or none you may see\n"


def test_a_refused_value_names_the_parameter(
    orca: Orca, local_systems: list[str], tmp_path: Path
) -> None:
    name = _template(orca, tmp_path, local_systems[:1])["name"]
    good = {"count": "2", "env": "prod", "who": "z", "token": SECRET}
    cases = [
        ({"count": "9"}, "parameters.count: must be at most 5"),
        ({"count": "many"}, "parameters.count: must be an integer"),
        ({"dry": "maybe"}, "parameters.dry: must be true or false"),
        ({"env": "dev"}, "parameters.env: must be one of staging, prod"),
        ({"colour": "blue"}, "parameters.colour: the template has no such parameter"),
        ({"token": None}, "parameters.token: a value is required"),
    ]
    for change, message in cases:
        given = {k: v for k, v in {**good, **change}.items() if v is not None}
        args = [arg for key, value in given.items() for arg in ("-p", f"{key}={value}")]
        result = orca("templates", "launch", name, *args)
        assert result.exit_code == 2, (change, result.stderr)
        assert result.stderr.splitlines()[-1] == f"error: {message}", result.stderr
        assert result.stdout == ""
    assert orca.json("jobs", "ls", "-q", name) == []  # nothing was launched


def test_a_missing_secret_is_asked_for_without_echo(
    orca: Orca, local_systems: list[str], tmp_path: Path
) -> None:
    """On a terminal, a required secret left out is prompted for; what is typed is not echoed
    and shows nowhere in the output."""
    name = _template(orca, tmp_path, local_systems[:1])["name"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCA_")}
    env.update(XDG_CONFIG_HOME=str(orca.config_home), NO_COLOR="1", COLUMNS="120")
    args = [*ORCA, "templates", "launch", name, "-p", "count=1", "-p", "env=prod", "-p", "who=w"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: its terminal is the pty
        os.execvpe(args[0], args, env)  # noqa: S606 (the orca command itself, no shell)
    seen = b""
    answered = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child has gone: EIO on Linux
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"(secret token): " in seen:
                os.write(fd, (SECRET + "\n").encode())
                answered = True
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    text = seen.decode(errors="replace")
    assert answered, text
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert _fingerprint(SECRET) in text
    assert SECRET not in text
