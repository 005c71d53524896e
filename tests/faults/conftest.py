"""The fault tests' world: a real Orca under `orca up`'s supervisor (embedded PostgreSQL and
Redis, the API and three worker processes) and a fleet of real sshd servers on loopback, shared
by every test in this package. Each test breaks something for real (kills a worker, restarts
Redis, stops PostgreSQL, freezes a host) and checks what the users of Orca would see; before
each test, whatever the last one broke is brought back.

ORCA_FAULT_FLEET sets the fleet's size (200 by default).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.engine import shared_directory
from tests.fixtures.fleet import Fleet
from tests.fixtures.orca_up import OrcaUp
from tests.fixtures.sshd import SSHD

FAILED = pytest.StashKey[bool]()
FLEET_SIZE = int(os.environ.get("ORCA_FAULT_FLEET", "200"))
WORKERS = 3
# Settings every fault test runs with: quick heartbeats, so a killed worker's leases lapse in
# seconds, not the default half minute (the reconciler still ticks every 15 s as in production).
ENV = {
    "ORCA_WORKER_HEARTBEAT_SECONDS": "0.5",
    "ORCA_WORKER_HEARTBEAT_TTL_SECONDS": "5",
    "ORCA_LOG_LEVEL": "INFO",
}


@pytest.fixture(scope="package")
def fleet() -> Iterator[Fleet]:
    if not SSHD.exists():
        pytest.skip("no OpenSSH server (/usr/sbin/sshd); ./scripts/test installs it as root")
    with Fleet(FLEET_SIZE) as started:
        yield started


@pytest.fixture(scope="package")
def orca(fleet: Fleet) -> Iterator[OrcaUp]:
    with OrcaUp(WORKERS, env=ENV, logs_to_files=True) as started:
        started.add_fleet(fleet, [FLEET_SIZE, 90, 20])
        yield started


@pytest.fixture(scope="package")
def effects_dir() -> Iterator[Path]:
    """Where commands on the hosts leave their side effects (any account may write there)."""
    path = shared_directory(Path(tempfile.mkdtemp(prefix="orca-effects-")))
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


@pytest.fixture
def effects(effects_dir: Path) -> Path:
    """A file of this test's own that commands append their host's port to."""
    return effects_dir / f"effects-{secrets.token_hex(6)}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


@pytest.fixture(autouse=True)
def whole(orca: OrcaUp, request: pytest.FixtureRequest) -> Iterator[None]:
    """Every process up and every worker reporting, before and after each test; after a
    failure, the processes' last warnings and errors."""
    orca.heal()
    yield
    if request.node.stash.get(FAILED, False):
        print(orca.log_tails())
    orca.heal()
