"""A real Orca for the web console's browser tests (`npm run e2e` starts it).

`orca up` on a private ORCA_HOME and a free port (embedded PostgreSQL and Redis, two worker
processes), three OpenSSH servers on loopback, and what the tests start from, made through the
API: a credential, the three SSH systems with their host keys pinned, a group `web` of them, and
a viewer `vera` whose team may view that group. Prints one JSON line when ready; stops every
process it started, by PID, when its stdin closes or it gets SIGTERM or SIGINT.

    python -m tests.e2e.stack          # then read the JSON line, and close stdin to stop
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from app.core.embedded import free_port
from tests.fixtures.keys import make_ssh_key
from tests.fixtures.sshd import SSHD, SshAccount, SshServer, ensure_account, start_sshd

ROOT = Path(__file__).resolve().parents[2]
ORCA = [str(Path(sys.executable).with_name("orca"))]
VIEWER_PASSWORD = "viewer-" + secrets.token_urlsafe(12)
READY_SECONDS = 120


def _log(message: str) -> None:
    print(f"[e2e stack] {message}", file=sys.stderr, flush=True)


class Stack:
    def __init__(self, ssh_servers: int) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="orca-e2e-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ssh_servers = ssh_servers
        self.up: subprocess.Popen[str] | None = None
        self.servers: list[SshServer] = []
        self.password: str | None = None
        self.ready = threading.Event()

    # -- start -------------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        env = {
            **os.environ,
            "ORCA_HOME": str(self.home / "orca"),
            "ORCA_API_PORT": str(self.port),
            "ORCA_WORKERS": "2",
            "ORCA_LOG_LEVEL": "WARNING",
            # Short-lived access tokens: the console must refresh them unseen during the run.
            "ORCA_ACCESS_TOKEN_TTL_SECONDS": "30",
        }
        self.up = subprocess.Popen(
            [*ORCA, "up"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read_up, daemon=True).start()
        fleet = self._start_fleet() if SSHD.exists() else None
        if not self.ready.wait(READY_SECONDS) or self.password is None:
            raise RuntimeError("orca up did not become ready (see its output above)")
        return self._seed(fleet)

    def _read_up(self) -> None:
        assert self.up is not None and self.up.stdout is not None
        for line in self.up.stdout:
            match = re.match(r"\s+password: (\S+)", line)
            if match:
                self.password = match.group(1)
            elif "is ready" in line:
                self.ready.set()
            elif line.strip() and "password" not in line:
                print(f"[orca up] {line.rstrip()}", file=sys.stderr, flush=True)

    def _start_fleet(self) -> tuple[SshAccount, list[SshServer]]:
        username, password = ensure_account()
        keys_dir = Path(tempfile.mkdtemp(prefix="orca-e2e-keys-"))
        account = SshAccount(username, password, {"ed25519": make_ssh_key(keys_dir)}, "")
        # One more than the systems: the browser test adds it, scans its key and trusts it.
        self.servers = [start_sshd(account) for _ in range(self.ssh_servers + 1)]
        shutil.rmtree(keys_dir, ignore_errors=True)
        return account, self.servers

    def _seed(self, fleet: tuple[SshAccount, list[SshServer]] | None) -> dict[str, Any]:
        assert self.password is not None
        with httpx.Client(base_url=f"{self.url}/api/v1", timeout=30) as api:
            token = api.post("/auth/login", json={"username": "admin", "password": self.password})
            token.raise_for_status()
            api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

            def post(path: str, body: Any) -> dict[str, Any]:
                response = api.post(path, json=body)
                if response.status_code >= 400:
                    raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
                result: dict[str, Any] = response.json()
                return result

            group = post("/groups", {"name": "web", "description": "The web servers"})
            systems: list[str] = []
            if fleet is not None:
                account, servers = fleet
                if account.password is None:
                    raise RuntimeError("the SSH systems need root (a password account)")
                credential = post(
                    "/credentials",
                    {
                        "name": "fleet-ssh",
                        "kind": "ssh-password",
                        "username": account.username,
                        "secret": {"password": account.password},
                    },
                )
                for index, server in enumerate(servers[: self.ssh_servers], start=1):
                    system = post(
                        "/systems",
                        {
                            "name": f"web-{index}",
                            "host": "127.0.0.1",
                            "port": server.port,
                            "credential_id": credential["id"],
                            "host_key": server.host_key_line,
                            "labels": {"role": "web", "os": "linux"},
                            "group_ids": [group["id"]],
                        },
                    )
                    systems.append(system["name"])
            team = post("/teams", {"name": "watchers"})
            viewer = post(
                "/users", {"username": "vera", "role": "viewer", "password": VIEWER_PASSWORD}
            )
            post(f"/teams/{team['id']}/members", {"user_ids": [viewer["id"]]})
            post("/grants", {"team_id": team["id"], "group_id": group["id"], "level": "view"})
        return {
            "url": self.url,
            "admin": {"username": "admin", "password": self.password},
            "viewer": {"username": "vera", "password": VIEWER_PASSWORD},
            "ssh_systems": systems,
            "spare_ssh": {
                "port": self.servers[-1].port,
                "fingerprint": self.servers[-1].host_key.fingerprint,
            }
            if self.servers
            else None,
            "ssh_host_keys": {
                f"web-{i}": s.host_key.fingerprint for i, s in enumerate(self.servers, 1)
            },
        }

    # -- stop --------------------------------------------------------------------------------

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
            shutil.rmtree(server.directory, ignore_errors=True)
        if self.up is not None and self.up.poll() is None:
            self.up.send_signal(signal.SIGTERM)
            try:
                self.up.wait(60)
            except subprocess.TimeoutExpired:
                self.up.kill()
                self.up.wait(10)
        shutil.rmtree(self.home, ignore_errors=True)


def main() -> None:
    stack = Stack(ssh_servers=3)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    try:
        info = stack.start()
        _log(f"ready in {time.monotonic() - started:.1f} s at {info['url']}")
        print(json.dumps(info), flush=True)
        # Until the test runner closes our stdin (or it dies, which closes it too).
        threading.Thread(target=lambda: (sys.stdin.read(), stopping.set()), daemon=True).start()
        while not stopping.wait(0.5):
            if stack.up is not None and stack.up.poll() is not None:
                _log("orca up exited on its own")
                break
    finally:
        _log("stopping")
        stack.stop()


if __name__ == "__main__":
    main()
