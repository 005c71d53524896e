"""A real Orca for the hostile-input and attack tests: `orca up` with one worker, shared by the
package, with an admin and a viewer, and a little data to find (a group, a system, a job)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.orca_up import OrcaUp

VIEWER_PASSWORD = "read-Only-Passw0rd-long-enough"


def seed(orca: OrcaUp) -> None:
    orca.post("/groups", {"name": "fuzz"})
    orca.post("/users", {"username": "viewer", "password": VIEWER_PASSWORD, "role": "viewer"})
    (local,) = orca.get("/systems")["items"]
    orca.post("/jobs", {"command": "echo hello", "targets": {"systems": [local["id"]]}})


@pytest.fixture(scope="package")
def orca() -> Iterator[OrcaUp]:
    with OrcaUp(1, logs_to_files=True) as started:
        seed(started)
        yield started


@pytest.fixture(scope="package")
def viewer_token(orca: OrcaUp) -> str:
    return orca.login("viewer", VIEWER_PASSWORD)
