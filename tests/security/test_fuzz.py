"""Every operation of the live OpenAPI schema fuzzed by schemathesis (its command line, as a user
would run it), signed in as an admin and as a viewer: no 5xx, every status, header, content type
and body as the schema says, schema-violating requests refused, and other methods answered 405
with an `Allow` header naming the real ones.

Operations that end the caller's session (logout, logout everywhere, password change) run in a
pass of their own, with a login of their own, so the rest keep theirs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.orca_up import OrcaUp
from tests.security.conftest import VIEWER_PASSWORD, seed

pytestmark = pytest.mark.slow

ST = Path(sys.executable).parent / "st"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "unsupported_method",
    ]
)
# What ends the caller's session or an account (logging out, a password change or reset, a
# deactivation, a deletion): fuzzed last, in a pass of its own, so the rest keep their login.
# Schemathesis' stateful phase uses real ids from earlier responses, so it does reach them.
ENDING = "^/api/v1/auth/(logout|password)$|^/api/v1/users/\\{user_id\\}(/deactivate|/password)?$"


# A viewer is refused most writes at the gate, so fewer examples reach as much of its code; the
# admin's pass goes everywhere a request can.
EXAMPLES = {"admin": 25, "viewer": 12}


def _fuzz(orca: OrcaUp, token: str, tmp_path: Path, examples: int, *selection: str) -> None:
    command = [
        str(ST),
        "run",
        f"{orca.url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--max-examples",
        str(examples),
        "--seed",
        "20261123",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
        "--no-color",
        *selection,
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=900, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "No issues found" in result.stdout or " passed" in result.stdout, result.stdout[-3000:]


@pytest.fixture(scope="module")
def orca() -> Iterator[OrcaUp]:
    """An Orca of this module's own: the fuzzer may deactivate or re-key any account here."""
    with OrcaUp(1, logs_to_files=True) as started:
        seed(started)
        yield started


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_every_operation(orca: OrcaUp, tmp_path: Path, role: str) -> None:
    password = orca.password if role == "admin" else VIEWER_PASSWORD
    examples = EXAMPLES[role]
    _fuzz(orca, orca.login(role, password), tmp_path, examples, "--exclude-path-regex", ENDING)
    _fuzz(orca, orca.login(role, password), tmp_path, examples, "--include-path-regex", ENDING)
