"""`orca audit ls|export|verify` against a real API."""

from __future__ import annotations

import csv
import io
import json
import re
import stat
from pathlib import Path

import pytest

from tests.client.conftest import ADMIN, Orca, unique

pytestmark = pytest.mark.slow


def test_list_filters_and_pages(orca: Orca) -> None:
    name = unique("audited")
    assert orca("systems", "add", name, "--host", "10.7.7.7").exit_code == 0
    rows = orca.json("audit", "ls", "--action", "system.*", "--search", name)
    assert [(row["action"], row["actor_username"]) for row in rows] == [("system.create", ADMIN)]
    assert (rows[0]["details"]["name"], rows[0]["details"]["host"]) == (name, "10.7.7.7")
    table = orca("audit", "ls", "--action", "system.create", "--search", name)
    header, line = table.stdout.splitlines()
    assert header.split() == ["SEQ", "TIME", "ACTOR", "ACTION", "OUTCOME", "TARGET", "FROM"]
    assert re.match(rf"^{rows[0]['seq']} +\S+ \S+ +{ADMIN} +system.create +success ", line)

    two = orca("audit", "ls", "-n", "2")
    assert len(two.stdout.splitlines()) == 3
    cursor = re.search(r"--cursor (\S+)", two.stderr)
    assert cursor, two.stderr
    everything = [row["seq"] for row in orca.json("audit", "ls", "--all")]
    assert everything == sorted(everything, reverse=True) and len(everything) > 2
    after = orca.json("audit", "ls", "-n", "2", "--cursor", cursor.group(1))
    assert [row["seq"] for row in after] == everything[2:4]

    bad = orca("audit", "ls", "--since", "yesterday-ish")
    assert bad.exit_code == 2
    assert "--since: 'yesterday-ish' is neither a time" in bad.stderr
    refused = orca("audit", "ls", "--since", "1h", "--until", "2h")
    assert refused.exit_code == 2
    assert refused.stderr == "error: until must be later than since\n"


def test_export_to_a_private_file_and_to_stdout(orca: Orca, tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    target = exports / "audit.ndjson"
    result = orca("audit", "export", "--output", str(target), "--action", "auth.*")
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert rows and {row["action"].split(".")[0] for row in rows} == {"auth"}
    assert [row["seq"] for row in rows] == sorted(row["seq"] for row in rows)  # oldest first
    assert (
        result.stderr == f"Wrote {len(rows)} row(s), {target.stat().st_size} bytes to {target}.\n"
    )
    assert list(exports.iterdir()) == [target]  # no temporary file left behind

    as_csv = orca("audit", "export", "--format", "csv", "--action", "auth.login")
    assert as_csv.exit_code == 0, as_csv.stderr
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert table and {row["action"] for row in table} == {"auth.login"}
    recorded = orca.json("audit", "ls", "--action", "audit.export", "-n", "2")
    assert [row["details"]["format"] for row in recorded] == ["csv", "ndjson"]


def test_verify_through_the_api(orca: Orca) -> None:
    result = orca("audit", "verify")
    assert result.exit_code == 0, result.stderr
    match = re.fullmatch(
        r"audit chain intact: (\d+) rows; head \(keep it, pass it back with --anchor\): "
        r"(\d+):([0-9a-f]{64})\n",
        result.stdout,
    )
    assert match, result.stdout
    head = f"{match.group(2)}:{match.group(3)}"
    anchored = orca.json("audit", "verify", "--anchor", head)
    assert anchored["ok"] is True and anchored["rows_checked"] > int(match.group(1))

    wrong = f"{match.group(2)}:{'0' * 64}"
    broken = orca("audit", "verify", "--anchor", wrong)
    assert broken.exit_code == 1
    assert broken.stderr.startswith(f"error: audit chain BROKEN at seq {match.group(2)}: ")
    malformed = orca("audit", "verify", "--anchor", "12")
    assert malformed.exit_code == 2
    assert malformed.stderr.startswith("error: anchor: ")
    # Each verification is on the record.
    verifies = orca.json("audit", "ls", "--action", "audit.verify", "-n", "3")
    assert [row["outcome"] for row in verifies] == ["failure", "success", "success"]
