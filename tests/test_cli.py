"""The `orca` command's small subcommands."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import asyncpg
from cryptography.fernet import Fernet

from app import __version__
from app.auth.passwords import verify_password
from tests.fixtures.processes import ORCA


def _orca(
    args: list[str], env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ORCA, *args], env=env, capture_output=True, text=True, timeout=60, input=stdin
    )


def test_version() -> None:
    assert _orca(["version"]).stdout.strip() == __version__


def test_openapi_prints_the_document_without_any_settings(tmp_path: Path) -> None:
    """The web console's client is generated from this, on machines with no Orca running."""
    result = _orca(["openapi"], env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["info"]["title"] == "Orca"
    assert "/api/v1/jobs/targets/preview" in document["paths"]
    assert document["paths"]["/api/v1/jobs"]["get"]["operationId"] == "list_jobs"


def test_generate_key_makes_a_working_fernet_key() -> None:
    key = _orca(["generate-key"]).stdout.strip()
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"x")) == b"x"


def test_create_admin_generates_a_password_once(orca_env: dict[str, str]) -> None:
    result = _orca(["create-admin", "root-ops"], orca_env)
    assert result.returncode == 0, result.stderr
    assert "admin 'root-ops' created" in result.stdout
    assert "password: " in result.stdout
    again = _orca(["create-admin", "ROOT-OPS"], orca_env)
    assert again.returncode == 2
    assert again.stderr.strip() == "error: a user named 'ROOT-OPS' already exists"


def test_create_admin_reads_a_password_from_stdin(orca_env: dict[str, str]) -> None:
    result = _orca(["create-admin", "bob", "--password-stdin"], orca_env, "correct horse\n")
    assert result.returncode == 0, result.stderr
    assert "correct horse" not in result.stdout + result.stderr
    assert "password:" not in result.stdout  # nothing generated

    async def stored_hash() -> str:
        dsn = orca_env["ORCA_DATABASE_URL"].replace("+asyncpg", "")
        conn = await asyncpg.connect(dsn)
        try:
            return str(await conn.fetchval("SELECT password_hash FROM users WHERE username='bob'"))
        finally:
            await conn.close()

    assert verify_password("correct horse", asyncio.run(stored_hash()))


def test_migrate_is_idempotent(orca_env: dict[str, str]) -> None:
    for _ in range(2):
        result = _orca(["migrate"], orca_env)
        assert result.returncode == 0, result.stderr


def test_migrate_without_a_database_says_so(orca_env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in orca_env.items() if k != "ORCA_DATABASE_URL"}
    env["ORCA_HOME"] = str(tmp_path / "nothing-here")
    result = _orca(["migrate"], env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ORCA_DATABASE_URL is not set")


def test_an_unreachable_database_is_one_line(orca_env: dict[str, str]) -> None:
    from app.core.embedded import free_port

    env = {**orca_env, "ORCA_DATABASE_URL": f"postgresql://orca:pw@127.0.0.1:{free_port()}/orca"}
    for args in (["migrate"], ["create-admin", "erin"]):
        result = _orca(args, env)
        assert result.returncode == 2
        assert result.stderr.startswith("error: cannot use the database (")
        assert "Traceback" not in result.stderr and ":pw@" not in result.stderr


def test_create_admin_refuses_a_weak_password(orca_env: dict[str, str]) -> None:
    result = _orca(["create-admin", "carol", "--password-stdin"], orca_env, "short\n")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: the password must be at least 12 characters long"


def test_audit_verify_asks_the_server_unless_told_to_read_the_database(
    orca_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**orca_env, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    client = _orca(["audit", "verify"], env)
    assert client.returncode == 3
    assert client.stderr == "error: not logged in: run `orca login --server URL`\n"
    direct = _orca(["audit", "verify", "--database", "--json"], env)
    assert direct.returncode == 0, direct.stderr
    report = json.loads(direct.stdout)
    assert report["ok"] is True and report["broken_at_seq"] is None
    assert report["head_seq"] == report["rows_checked"]


def test_help_lists_the_server_and_client_commands() -> None:
    result = _orca(["--help"], {"COLUMNS": "120", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    commands = (
        *("up", "api", "worker", "migrate", "retention", "healthcheck"),
        *("login", "logout", "run", "systems", "jobs", "templates", "schedules", "audit"),
    )
    for command in commands:
        assert re.search(rf"^│ {command} ", result.stdout, re.M), command
