"""Connectors come from the `orca.connectors` entry points: built-ins and plugins alike."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.connectors import registry
from app.connectors.base import ExecRequest, Target
from app.models.enums import OutputStream

PLUGIN = '''
import asyncio
from datetime import UTC, datetime
from app.connectors.base import CheckResult, ExecResult, NoOptions
from app.models.enums import OutputStream, Shell


class EchoConnector:
    """Answers every command by echoing it back: a stand-in for a vendor's transport."""

    name = "echo"
    options_schema = NoOptions
    shells = frozenset({Shell.sh})

    async def check(self, target):
        return CheckResult(latency_ms=0.1)

    async def execute(self, target, request, sink, cancel):
        started = datetime.now(UTC)
        await sink(OutputStream.stdout, f"{target.host}: {request.command}".encode())
        return ExecResult(exit_code=0, started_at=started, finished_at=datetime.now(UTC))

    async def close(self):
        return None
'''


def _install(
    root: Path, distribution: str, entries: dict[str, str], module: str, code: str
) -> None:
    """What `pip install` leaves behind: a module and a dist-info with entry points."""
    (root / f"{module}.py").write_text(code)
    info = root / f"{distribution}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[orca.connectors]\n{lines}\n")


@pytest.fixture
def plugins(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    registry.available.cache_clear()
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in ("orca_echo_connector", "orca_broken_connector"):
        sys.modules.pop(name, None)
    registry.available.cache_clear()


def test_the_built_ins_register_through_entry_points() -> None:
    assert {"local"} <= set(registry.available())
    assert registry.get("local").name == "local"


def test_an_unknown_connector_names_the_installed_ones() -> None:
    with pytest.raises(
        registry.UnknownConnector, match=r"no connector named 'telnet'; installed: .*local"
    ):
        registry.get("telnet")


def test_a_third_party_connector_is_found_and_runs(plugins: Path) -> None:
    _install(
        plugins,
        "orca_echo_connector",
        {"echo": "orca_echo_connector:EchoConnector"},
        "orca_echo_connector",
        PLUGIN,
    )
    connector = registry.get("echo")()
    chunks: list[bytes] = []

    async def sink(stream: OutputStream, data: bytes) -> None:
        chunks.append(data)

    result = asyncio.run(
        connector.execute(
            Target(system_id="s1", host="appliance-7", port=None),
            ExecRequest(command="show version"),
            sink,
            asyncio.Event(),
        )
    )
    assert result.exit_code == 0 and chunks == [b"appliance-7: show version"]
    assert "local" in registry.available()  # the built-ins are still there


def test_a_broken_plugin_is_left_out_and_logged(
    plugins: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _install(
        plugins,
        "orca_broken_connector",
        {
            "broken": "orca_broken_connector:Missing",
            "halfway": "orca_broken_connector:NotAConnector",
        },
        "orca_broken_connector",
        "class NotAConnector:\n    name = 'halfway'\n",
    )
    with caplog.at_level(logging.ERROR, logger="orca.connectors"):
        connectors = registry.available()
    assert "broken" not in connectors and "halfway" not in connectors and "local" in connectors
    assert "could not be loaded" in caplog.text and "does not implement" in caplog.text
