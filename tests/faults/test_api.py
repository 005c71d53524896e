"""The API process restarted (stopped cleanly, or killed) while WebSocket clients watch a job's
output: each client reconnects by itself, resumes after the last seq it holds, and ends with
every chunk exactly once, as stored."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from tests.fixtures.fleet import Fleet
from tests.fixtures.orca_up import TERMINAL, OrcaUp
from tests.fixtures.processes import wait_for

pytestmark = pytest.mark.slow

WATCHERS = 5
LINES = 40


class Watcher(threading.Thread):
    """A WebSocket client following one job's output, as the console does: on any loss it
    connects again and subscribes with the last seq it holds of each execution."""

    def __init__(self, orca: OrcaUp, job_id: str) -> None:
        super().__init__(daemon=True)
        self.url = f"ws://127.0.0.1:{orca.port}/api/v1/ws"
        self.token = orca.token
        self.job_id = job_id
        self.chunks: dict[str, dict[int, str]] = {}
        self.problems: list[str] = []  # duplicates, gaps, errors: none expected
        self.connections = 0
        self.finished = threading.Event()
        self.stop = threading.Event()

    def last_seqs(self) -> dict[str, int]:
        return {execution: max(seqs) for execution, seqs in self.chunks.items() if seqs}

    def run(self) -> None:
        quiet_since: float | None = None
        while not self.stop.is_set():
            try:
                with connect(self.url, open_timeout=5, max_size=2**24) as ws:
                    self.connections += 1
                    ws.send(json.dumps({"op": "auth", "token": self.token}))
                    ws.send(
                        json.dumps(
                            {
                                "op": "subscribe",
                                "job_id": self.job_id,
                                "output": True,
                                "after": self.last_seqs(),
                            }
                        )
                    )
                    while not self.stop.is_set():
                        try:
                            message = json.loads(ws.recv(timeout=0.5))
                        except TimeoutError:
                            # The job has ended and nothing came for a while: all is here.
                            if self.finished.is_set() and quiet_since is not None:
                                if time.monotonic() - quiet_since > 2:
                                    return
                            continue
                        quiet_since = time.monotonic()
                        self._take(message)
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                time.sleep(0.2)

    def _take(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "output":
            held = self.chunks.setdefault(message["execution_id"], {})
            seq = message["seq"]
            if seq in held:
                self.problems.append(f"duplicate seq {seq} of {message['execution_id']}")
            elif seq != max(held, default=0) + 1:
                self.problems.append(f"seq {seq} after {max(held, default=0)}")
            held[seq] = message["data"]
        elif kind == "output.gap":
            self.problems.append(f"gap: {message}")
        elif kind == "error":
            self.problems.append(f"error: {message}")
        elif kind == "job" and message.get("status") in TERMINAL:
            self.finished.set()


@pytest.mark.parametrize("how", ["restarted", "killed"])
def test_watchers_resume_without_a_gap_when_the_api_goes_away(
    orca: OrcaUp, fleet: Fleet, how: str
) -> None:
    assert orca.stack is not None
    command = f'for i in $(seq 1 {LINES}); do echo "line $i"; sleep 0.25; done'
    job = orca.post(
        "/jobs", {"command": command, "targets": {"groups": ["fleet-20"]}, "timeout_seconds": 120}
    )
    watchers = [Watcher(orca, job["id"]) for _ in range(WATCHERS)]
    for watcher in watchers:
        watcher.start()
    try:
        wait_for(
            lambda: all(sum(map(len, w.chunks.values())) >= 40 for w in watchers),
            60,
            "every watcher to have some output",
        )
        if how == "restarted":
            orca.stack.restart("api")  # SIGTERM, wait, start again
        else:
            orca.kill("api")
            orca.stack.respawn("api")
        orca.wait_ready(60)
        final = orca.wait_job(job["id"], 120)
        assert final["status"] == "succeeded", orca.failures(job["id"])
        for watcher in watchers:
            watcher.join(60)
            assert not watcher.is_alive(), "a watcher never saw the job end"
    finally:
        for watcher in watchers:
            watcher.stop.set()

    stored = {
        e["id"]: {c["seq"]: c["data"] for c in orca.chunks(e["id"])}
        for e in orca.executions(job["id"])
    }
    for watcher in watchers:
        assert watcher.problems == []
        assert watcher.connections >= 2, "the watcher never lost its connection"
        assert watcher.chunks == stored
    lines = "".join(stored[next(iter(stored))].values())
    assert lines == "".join(f"line {i}\n" for i in range(1, LINES + 1))
    print(
        f"API {how}: {WATCHERS} watchers reconnected "
        f"({[w.connections - 1 for w in watchers]} times) with every chunk once"
    )
