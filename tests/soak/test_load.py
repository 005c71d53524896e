"""The load soak, briefly: the harness `./scripts/soak` runs for ten minutes, run here for half
a minute with fewer clients, so it keeps working and what it checks keeps holding."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from tests.fixtures.fleet import Fleet
from tests.fixtures.orca_up import OrcaUp
from tests.fixtures.sshd import SSHD
from tests.soak.load import prepare, soak

pytestmark = pytest.mark.slow


def test_a_short_soak_has_no_errors_and_flat_memory() -> None:
    if not SSHD.exists():
        pytest.skip("no OpenSSH server (/usr/sbin/sshd); ./scripts/test installs it as root")
    args = argparse.Namespace(minutes=0.5, clients=10, viewers=2, hosts=4, workers=2, seed=1)
    with Fleet(args.hosts) as fleet, OrcaUp(args.workers, logs_to_files=True) as orca:
        prepare(orca, fleet)
        report = asyncio.run(soak(orca, fleet, args))
    assert report["errors"] == 0, report["first_errors"]
    assert report["jobs"] >= 1 and report["viewings"] == 2 * report["jobs"]
    assert report["chunks_seen_live"] > 0 and report["requests"] > 100
    assert report["memory"] and all(row["flat"] for row in report["memory"].values())
