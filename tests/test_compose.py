"""docker-compose.yml is valid (no engine here: `config` only parses and resolves the file)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _compose_command() -> list[str] | None:
    if shutil.which("docker") is None:
        return None
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if plugin.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_file_validates(tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("no docker client with compose here")
    # As a user deploys it: the compose file beside a .env made from .env.example.
    shutil.copy(ROOT / "docker-compose.yml", tmp_path)
    (tmp_path / "frontend").symlink_to(ROOT / "frontend")  # the console's build context
    example = (ROOT / ".env.example").read_text()
    (tmp_path / ".env").write_text(example.replace("change-me", "s3cret"))
    result = subprocess.run(
        [*command, "config"], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert {"postgres", "redis", "migrate", "api", "worker", "frontend"} <= set(
        resolved["services"]
    )
    api = resolved["services"]["api"]
    assert "orca" in " ".join(api["command"]) and "api" in api["command"]


def test_compose_file_structure() -> None:
    """Checked without docker too: every service the deployment needs, wired the right way."""
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert {"postgres", "redis", "migrate", "api", "worker"} <= set(services)
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert "ports" not in services["worker"]  # workers scale out: no fixed host port
    assert "container_name" not in services["worker"]
    # Every long-running service says when it is healthy; the one-shot migration does not.
    for name in ("postgres", "redis", "api", "worker"):
        assert services[name]["healthcheck"]["test"], name
    assert services["api"]["healthcheck"]["test"] == ["CMD", "orca", "healthcheck", "api"]
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "orca", "healthcheck", "worker"]
    assert services["migrate"]["healthcheck"] == {"disable": True}
    assert services["migrate"]["restart"] == "no"
    assert set(spec["volumes"]) == {"postgres-data", "redis-data"}
    frontend = services["frontend"]
    assert frontend["build"] == "./frontend"
    assert frontend["depends_on"]["api"]["condition"] == "service_healthy"
    # The console's nginx proxies the API and upgrades its WebSocket.
    nginx = (ROOT / "frontend" / "nginx.conf").read_text()
    assert "proxy_pass http://api:8000;" in nginx
    assert "proxy_set_header Upgrade $http_upgrade;" in nginx
    assert "try_files $uri /index.html;" in nginx


@pytest.mark.parametrize("path", ["Dockerfile", "frontend/Dockerfile"])
def test_dockerfiles_are_multi_stage_and_not_root(path: str) -> None:
    dockerfile = (ROOT / path).read_text()
    assert dockerfile.count("\nFROM ") + dockerfile.startswith("FROM ") >= 2
    user_lines = [line for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert user_lines and user_lines[-1] != "USER root"
