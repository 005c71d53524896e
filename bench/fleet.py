"""A fleet of real OpenSSH servers on loopback, one sshd process per host, each with its own
host key, all accepting one client key. Started in parallel, stopped by PID.

The files every client needs are written beside them: the client key, a known_hosts file that
pins every host key (no tool here connects without checking it, except parallel-ssh, which
cannot be told to), and an Ansible inventory.
"""

from __future__ import annotations

import concurrent.futures
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.fixtures.keys import SshKey, make_ssh_key
from tests.fixtures.sshd import SSHD, SshAccount, SshServer, ensure_account, start_sshd

from bench.common import log


@dataclass
class Fleet:
    size: int
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="orca-bench-")))
    servers: list[SshServer] = field(default_factory=list)
    account: SshAccount | None = None
    key: SshKey | None = None

    def __enter__(self) -> Fleet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def username(self) -> str:
        assert self.account is not None
        return self.account.username

    @property
    def key_path(self) -> Path:
        assert self.key is not None
        return self.key.path

    @property
    def known_hosts(self) -> Path:
        return self.directory / "known_hosts"

    @property
    def inventory(self) -> Path:
        return self.directory / "inventory.ini"

    def ports(self, count: int | None = None) -> list[int]:
        return [server.port for server in self.servers[: count or self.size]]

    def pids(self) -> list[int]:
        return [server.process.pid for server in self.servers]

    def start(self) -> None:
        if not SSHD.exists():
            raise SystemExit(
                "the fleet needs OpenSSH's sshd (Debian: apt-get install openssh-server)"
            )
        username, password = ensure_account()
        keys = self.directory / "keys"
        keys.mkdir()
        self.key = make_ssh_key(keys, "ed25519")
        self.account = SshAccount(username, password, {"ed25519": self.key}, "")
        log(f"starting {self.size} sshd servers on loopback ...")
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(_start_one, self.account) for _ in range(self.size)]
            try:
                for future in futures:
                    self.servers.append(future.result())
            except BaseException:
                # Stop every server that did start, including those still starting.
                concurrent.futures.wait(futures)
                for future in futures:
                    if future.exception() is None and future.result() not in self.servers:
                        self.servers.append(future.result())
                self.stop()
                raise
        self.known_hosts.write_text(
            "".join(f"[127.0.0.1]:{s.port} {s.host_key_line}\n" for s in self.servers)
        )
        self.write_inventory(self.size)
        log(f"{self.size} sshd servers up")

    def write_inventory(self, count: int) -> Path:
        lines = ["[fleet]"]
        lines += [
            f"h{index} ansible_host=127.0.0.1 ansible_port={port}"
            for index, port in enumerate(self.ports(count))
        ]
        self.inventory.write_text("\n".join(lines) + "\n")
        return self.inventory

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
            shutil.rmtree(server.directory, ignore_errors=True)
        self.servers.clear()
        shutil.rmtree(self.directory, ignore_errors=True)


def _start_one(account: SshAccount) -> SshServer:
    """One sshd; again on another port when a server started beside it took the free port
    it was given first (they are picked before they are bound)."""
    for attempt in range(5):
        try:
            return start_sshd(account)
        except RuntimeError as error:
            if "already in use" not in str(error) or attempt == 4:
                raise
    raise AssertionError("unreachable")
