"""What the fault tests read off the hosts: which commands ran where, and how often."""

from __future__ import annotations

import collections
from pathlib import Path

from tests.fixtures.fleet import Fleet

TERMINAL = {"succeeded", "failed", "timed_out", "error", "cancelled"}


def leave_mark(effects: Path, then: str) -> str:
    """A command that appends its host's sshd port to `effects`, then runs `then`."""
    return f'echo "${{SSH_CONNECTION##* }}" >> {effects}; {then}'


def side_effects(path: Path) -> collections.Counter[int]:
    """How many times the command ran on each host (by the host's sshd port)."""
    if not path.exists():
        return collections.Counter()
    return collections.Counter(int(line) for line in path.read_text().split())


def ports_by_name(fleet: Fleet, prefix: str = "host") -> dict[str, int]:
    return {f"{prefix}-{index:04d}": server.port for index, server in enumerate(fleet.servers)}
