"""Settings: clear one-line errors naming the variable; the README documents every setting."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from app.core.config import Settings, SettingsError, load_settings
from tests.fixtures.processes import ORCA

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("ORCA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env file


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("ORCA_API_PORT", "eighty", "ORCA_API_PORT is invalid"),
        ("ORCA_API_PORT", "70000", "ORCA_API_PORT is invalid"),
        ("ORCA_ENV", "staging", "ORCA_ENV is invalid"),
        ("ORCA_ENCRYPTION_KEYS", "not-a-key", "ORCA_ENCRYPTION_KEYS is invalid: key 1 is not"),
        ("ORCA_JWT_SECRET", "short", "ORCA_JWT_SECRET is invalid: must be at least 32 bytes"),
        ("ORCA_JWT_ALGORITHM", "none", "ORCA_JWT_ALGORITHM is invalid"),
        ("ORCA_DATABASE_URL", "mysql://x/y", "ORCA_DATABASE_URL is invalid"),
        ("ORCA_REDIS_URL", "http://x", "ORCA_REDIS_URL is invalid"),
        ("ORCA_LOG_LEVEL", "loud", "ORCA_LOG_LEVEL is invalid"),
    ],
)
def test_a_bad_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value).startswith(expected)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("env", ["development", "production"])
def test_placeholder_secrets_are_refused(monkeypatch: pytest.MonkeyPatch, env: str) -> None:
    """A copied .env.example must never sign real tokens, not even in development."""
    monkeypatch.setenv("ORCA_ENV", env)
    monkeypatch.setenv("ORCA_JWT_SECRET", "change-me-to-at-least-32-random-bytes-xxxxxxxx")
    with pytest.raises(SettingsError, match="ORCA_JWT_SECRET still holds the change-me"):
        load_settings()


def test_settings_are_read_from_a_dot_env_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("ORCA_API_PORT=9123\nORCA_WORKERS=3\n")
    settings = load_settings()
    assert settings.api_port == 9123 and settings.workers == 3


def test_plain_postgres_urls_are_driven_through_asyncpg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCA_DATABASE_URL", "postgresql://u:p@db:5432/orca")
    settings = load_settings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == "postgresql+asyncpg://u:p@db:5432/orca"


def test_several_encryption_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [Fernet.generate_key().decode() for _ in range(2)]
    monkeypatch.setenv("ORCA_ENCRYPTION_KEYS", " , ".join(keys))
    settings = load_settings()
    assert [k.get_secret_value() for k in settings.encryption_keys] == keys
    assert keys[0] not in repr(settings)  # secrets never print


def _run_orca(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ORCA, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("missing", "command"),
    [
        ("ORCA_JWT_SECRET", "api"),
        ("ORCA_ENCRYPTION_KEYS", "api"),
        ("ORCA_DATABASE_URL", "worker"),
        ("ORCA_ENCRYPTION_KEYS", "worker"),
    ],
)
def test_api_and_worker_refuse_to_start_without_a_required_setting(
    orca_env: dict[str, str], tmp_path: Path, missing: str, command: str
) -> None:
    env = dict(orca_env)
    env.pop(missing)
    result = _run_orca([command], env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {missing} is not set")


def test_a_bad_setting_stops_the_cli_with_one_line(
    orca_env: dict[str, str], tmp_path: Path
) -> None:
    result = _run_orca(["api"], {**orca_env, "ORCA_API_PORT": "eighty"}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: ORCA_API_PORT is invalid: Input should be a valid integer, "
        "unable to parse string as an integer"
    )


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `(ORCA_[A-Z_]+)` \|", readme, flags=re.MULTILINE))
    expected = {f"ORCA_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


def test_trusted_proxies_are_normalised_networks() -> None:
    settings = Settings(_env_file=None, trusted_proxies=" 10.0.0.1/8, 127.0.0.1 ,::1")  # type: ignore[call-arg]
    assert settings.trusted_proxies == "10.0.0.0/8,127.0.0.1/32,::1/128"
    with pytest.raises(ValidationError, match="not an IP address"):
        Settings(_env_file=None, trusted_proxies="proxy.example")  # type: ignore[call-arg]
