"""`orca systems ls|show|add|import|test` against a real API."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
import pytest

from tests.client.conftest import Orca, Server, admin_headers, unique

pytestmark = pytest.mark.slow


def test_add_with_names_then_list_and_show(orca: Orca, server: Server, tmp_path: Path) -> None:
    headers = admin_headers(server)
    group = unique("grp")
    made = httpx.post(f"{server.url}/api/v1/groups", json={"name": group}, headers=headers)
    assert made.status_code == 201, made.text
    credential = unique("cred")
    stored = httpx.post(
        f"{server.url}/api/v1/credentials",
        json={
            "name": credential,
            "kind": "ssh-password",
            "username": "deploy",
            "secret": {"password": "not-a-real-one"},
        },
        headers=headers,
    )
    assert stored.status_code == 201, stored.text
    name, tag = unique("web"), uuid.uuid4().hex[:6]
    added = orca(
        "systems", "add", name, "--host", "10.1.2.3", "--port", "2222",
        "--credential", credential.upper(), "--group", group,
        "--label", f"role={tag}", "--label", "os=linux", "--max-concurrency", "2",
        "--description", "the first web server", "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    system = json.loads(added.stdout)
    assert (system["name"], system["host"], system["port"]) == (name, "10.1.2.3", 2222)
    assert system["credential_id"] == stored.json()["id"]
    assert system["group_ids"] == [made.json()["id"]]
    assert system["labels"] == {"role": tag, "os": "linux"}

    by_label = orca.json("systems", "ls", "--label", f"role={tag}")
    assert [s["name"] for s in by_label] == [name]
    assert [s["name"] for s in orca.json("systems", "ls", "--group", group)] == [name]
    assert orca.json("systems", "ls", "--label", f"role={tag}", "--kind", "windows") == []
    table = orca("systems", "ls", "--label", f"role={tag}")
    header, row = table.stdout.splitlines()
    assert row.split() == [
        name, "linux", "ssh", "10.1.2.3:2222", "unknown", "never", f"os=linux,role={tag}", group,
    ]  # fmt: skip
    assert header.split() == [
        "NAME", "KIND", "CONNECTOR", "ADDRESS", "HEALTH", "CHECKED", "LABELS", "GROUPS",
    ]  # fmt: skip
    shown = orca("systems", "show", name)
    assert re.search(r"^description +the first web server$", shown.stdout, re.M)
    assert orca.json("systems", "show", system["id"])["name"] == name

    # Refusals name the field, or the name that is not there.
    taken = orca("systems", "add", name, "--host", "10.1.2.4")
    assert taken.exit_code == 2
    assert taken.stderr == f"error: name: a system named '{name}' already exists\n"
    bad_host = orca("systems", "add", unique("x"), "--host", "not a host!")
    assert bad_host.exit_code == 2
    assert bad_host.stderr == "error: Invalid host: must be a host name or an IP address\n"
    no_credential = orca("systems", "add", unique("x"), "--host", "h", "--credential", "nope")
    assert no_credential.exit_code == 2
    assert no_credential.stderr == "error: no credential named 'nope', or none you may see\n"


def test_import_csv_and_json_all_or_nothing(orca: Orca, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    names = [f"imp-{tag}-{i}" for i in range(3)]
    good = tmp_path / "fleet.csv"
    good.write_text(
        "name,host,port,connector,labels\n"
        f"{names[0]},10.9.0.1,22,ssh,batch={tag};os=linux\n"
        f"{names[1]},localhost,,local,batch={tag}\n"
    )
    result = orca("systems", "import", str(good))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"Imported 2 system(s) from {good}.\n"
    listed = orca.json("systems", "ls", "--label", f"batch={tag}")
    assert sorted(s["name"] for s in listed) == names[:2]

    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"name,host,port\n{names[2]},10.9.0.3,22\n{names[0]},10.9.0.4,22\nx-{tag},no host!,0\n"
    )
    refused = orca("systems", "import", str(bad))
    assert refused.exit_code == 2
    lines = refused.stderr.splitlines()
    assert lines[0] == "error: 2 of 3 rows have problems; nothing was imported"
    assert "  row 2, name: already taken" in lines
    assert "  row 3, host: must be a host name or an IP address" in lines
    assert any(line.startswith("  row 3, port: ") for line in lines)
    assert orca.json("systems", "ls", "--search", names[2]) == []  # all or nothing

    as_json = json.dumps([{"name": names[2], "host": "10.9.0.3", "labels": {"batch": tag}}])
    piped = orca("systems", "import", "-", "--json", input=as_json)
    assert piped.exit_code == 0, piped.stderr
    assert json.loads(piped.stdout)["created"] == 1
    assert len(orca.json("systems", "ls", "--label", f"batch={tag}")) == 3


def test_test_reports_each_system_and_fails_if_any_fails(
    orca: Orca, local_systems: list[str]
) -> None:
    dead = unique("dead")
    assert orca("systems", "add", dead, "--host", "127.0.0.1", "--port", "1").exit_code == 0
    ok = orca("systems", "test", local_systems[0])
    assert ok.exit_code == 0, ok.stderr
    assert re.search(rf"^{local_systems[0]} +ok +\d+ ms", ok.stdout, re.M)
    assert orca.json("systems", "show", local_systems[0])["health_status"] == "healthy"

    mixed = orca("systems", "test", local_systems[1], dead, "--json")
    assert mixed.exit_code == 1
    results = {row["system"]: row for row in json.loads(mixed.stdout)}
    assert results[local_systems[1]]["ok"] is True
    assert (results[dead]["ok"], results[dead]["category"]) == (False, "refused")
    assert mixed.stderr == f"error: 1 of 2 failed: {dead}\n"
    missing = orca("systems", "test", "no-such-system")
    assert missing.exit_code == 2
    assert missing.stderr == "error: no system named 'no-such-system', or none you may see\n"
