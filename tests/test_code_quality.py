"""Lint and strict typing are part of the suite, so they hold on every change."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )


def test_ruff() -> None:
    result = _run("ruff", "check", "backend", "tests", "alembic", "bench")
    assert result.returncode == 0, result.stdout + result.stderr
    result = _run("ruff", "format", "--check", "backend", "tests", "alembic", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
