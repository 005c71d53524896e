"""`orca up`: the whole stack on one machine, supervised by one process.

Start order: data directory and secrets → PostgreSQL → Redis → migrations → first admin → API
and workers. Once ready, a process that dies (the API, a worker, PostgreSQL or Redis) is started
again, after a pause that doubles with each death in a row; one that dies more than
`CRASH_LOOP_DEATHS` times in `CRASH_LOOP_SECONDS` stops the stack instead. Stop order (Ctrl-C,
SIGTERM, or a crash loop): API → workers → Redis → PostgreSQL, each given time to finish cleanly
before it is killed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import migrations
from app.core.config import Environment, Settings
from app.core.db import DATABASE_ERRORS, run_once
from app.core.embedded import EmbeddedPostgres, EmbeddedRedis, die_with_parent
from app.core.errors import safe_reason
from app.core.home import Home
from app.services import systems as systems_service
from app.services import users as users_service


async def bootstrap(session: AsyncSession) -> str | None:
    """On a fresh database: the first admin (returns its password) and a `localhost` system on
    the local connector, so that a new user's first job has somewhere to run."""
    password = await users_service.ensure_first_admin(session)
    if password is not None:
        await systems_service.ensure_localhost(session)
    return password


class StackError(RuntimeError):
    """`orca up` cannot go on; the message tells the user why and what to do."""


CRASH_LOOP_DEATHS = 5
CRASH_LOOP_SECONDS = 60.0
RESTART_PAUSE_MAX = 10.0


@dataclass
class Restarts:
    """When a supervised process died, to pace its restarts and notice a crash loop."""

    deaths: list[float] = field(default_factory=list)
    next_start: float = 0.0
    waiting: bool = False  # dead, and waiting for its restart

    def died(self, now: float) -> bool:
        """Record a death; False when this one makes a crash loop."""
        self.deaths = [t for t in self.deaths if now - t < CRASH_LOOP_SECONDS] + [now]
        if len(self.deaths) > CRASH_LOOP_DEATHS:
            return False
        self.next_start = now + min(0.5 * 2 ** (len(self.deaths) - 1), RESTART_PAUSE_MAX)
        self.waiting = True
        return True

    def due(self, now: float) -> bool:
        """Whether a dead process's pause is over (it is to be started now)."""
        if self.waiting and now >= self.next_start:
            self.waiting = False
            return True
        return False


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    stop_timeout: float
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    restarts: Restarts = field(default_factory=Restarts)

    def stop(self, out: Callable[[str], None]) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            out(f"{self.name} did not stop in {self.stop_timeout:.0f}s; killing it")
            self.proc.kill()
            self.proc.wait()


@dataclass
class Stack:
    settings: Settings
    out: Callable[[str], None] = print
    home: Home = field(init=False)
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    children: list[Child] = field(default_factory=list)
    database_url: str = ""
    redis_url: str = ""
    stop_requested: int | None = None
    # The API's and workers' environment (default: this process's) and where their output goes
    # (default: this process's own stdout and stderr; else one `<name>.log` each).
    child_env: dict[str, str] | None = None
    log_dir: Path | None = None
    server_restarts: dict[str, Restarts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.home = Home(self.settings.home)

    # -- start -----------------------------------------------------------------------------

    def start(self) -> str | None:
        """Bring everything up; returns the first admin's password when one was created."""
        if self.settings.env is Environment.production:
            for name in ("database_url", "redis_url"):
                if getattr(self.settings, name) is None:
                    raise StackError(
                        f"ORCA_ENV=production needs ORCA_{name.upper()}: the embedded servers "
                        "are for development"
                    )
        self.home.create()
        self.home.lock()
        stored = self.home.load_or_create_secrets()
        _check_port_free(self.settings.api_host, self.settings.api_port)
        state = self.home.read_state()

        if self.settings.database_url is None:
            self.out(f"Starting PostgreSQL (data in {self.home.postgres_dir}) ...")
            self.postgres = EmbeddedPostgres(
                self.home.postgres_dir,
                password=stored.postgres_password,
                port=state.get("postgres_port"),
                log_path=self.home.logs_dir / "postgres.log",
            )
            self.postgres.start()
            self.database_url = self.postgres.url()
            self.home.write_state(postgres_port=self.postgres.port)
        else:
            self.database_url = self.settings.database_url.get_secret_value()

        if self.stop_requested is not None:
            return None
        if self.settings.redis_url is None:
            self.out(f"Starting Redis (data in {self.home.redis_dir}) ...")
            self.redis = EmbeddedRedis(
                self.home.redis_dir,
                password=stored.redis_password,
                port=state.get("redis_port"),
                log_path=self.home.logs_dir / "redis.log",
            )
            self.redis.start()
            self.redis_url = self.redis.url()
            self.home.write_state(redis_port=self.redis.port)
        else:
            self.redis_url = self.settings.redis_url.get_secret_value()

        if self.stop_requested is not None:
            return None
        self.out("Applying database migrations ...")
        try:
            migrations.upgrade(self.database_url)
            admin_password = asyncio.run(run_once(self.database_url, bootstrap))
        except DATABASE_ERRORS as exc:
            raise StackError(
                f"cannot prepare the database ({safe_reason(exc)}); check "
                "ORCA_DATABASE_URL and that PostgreSQL is reachable"
            ) from exc

        if self.stop_requested is not None:
            return admin_password
        env = self._child_env(stored.jwt_secret, stored.encryption_keys)
        self._spawn("api", [sys.executable, "-m", "app.cli", "api"], env, stop_timeout=20)
        for index in range(self.settings.workers):
            self._spawn(
                f"worker-{index + 1}",
                [sys.executable, "-m", "app.cli", "worker"],
                env,
                stop_timeout=40,
            )
        return admin_password

    def _child_env(self, jwt_secret: str, encryption_keys: list[str]) -> dict[str, str]:
        env = dict(os.environ if self.child_env is None else self.child_env)
        env["ORCA_DATABASE_URL"] = self.database_url
        env["ORCA_REDIS_URL"] = self.redis_url
        # Secrets given explicitly in the environment win over the generated ones.
        if self.settings.jwt_secret is None:
            env["ORCA_JWT_SECRET"] = jwt_secret
        if not self.settings.encryption_keys:
            env["ORCA_ENCRYPTION_KEYS"] = ",".join(encryption_keys)
        return env

    def _spawn(self, name: str, argv: list[str], env: dict[str, str], stop_timeout: float) -> None:
        self.children.append(Child(name, self._launch(name, argv, env), stop_timeout, argv, env))

    def _launch(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = open(self.log_dir / f"{name}.log", "ab")
        try:
            return subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                # Own session: the terminal's Ctrl-C reaches only us, and we stop children in
                # order.
                start_new_session=True,
                # If we are killed outright, the kernel tells the child to stop too.
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
        finally:
            if output is not None:
                output.close()

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    def restart(self, name: str) -> None:
        """Stop one child (`api`, `worker-1`, ...) the way `stop` would, and start it again
        (the benchmark empties the workers' connection pools this way)."""
        child = self.child(name)
        child.stop(self.out)
        self.respawn(name)

    def respawn(self, name: str) -> None:
        """Start a child that has exited again, as itself (tests restart a killed one)."""
        child = self.child(name)
        if child.proc.poll() is None:
            raise StackError(f"{name} is still running")
        child.proc = self._launch(child.name, child.argv, child.env)
        child.restarts.waiting = False

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Wait until /readyz says ready; fail early if a child dies meanwhile."""
        url = f"http://{_connect_host(self.settings.api_host)}:{self.settings.api_port}/readyz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stop_requested is not None:
                return
            self._check_children()
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise StackError(f"Orca did not become ready within {timeout:.0f}s (see the log above)")

    # -- run and stop ----------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        def request_stop(signum: int, _frame: FrameType | None) -> None:
            self.stop_requested = signum

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

    def _check_children(self) -> None:
        for child in self.children:
            code = child.proc.poll()
            if code is not None:
                raise StackError(f"the {child.name} process exited with code {code}")
        for name, server in (("PostgreSQL", self.postgres), ("Redis", self.redis)):
            if server is not None and server.proc is not None:
                code = server.proc.poll()
                if code is not None:
                    raise StackError(
                        f"{name} exited with code {code}; see its log in {self.home.logs_dir}"
                    )

    def run_until_stopped(self) -> None:
        while self.stop_requested is None:
            self.supervise(time.monotonic())
            time.sleep(0.2)

    def supervise(self, now: float) -> None:
        """Start again what died, after its pause; raise StackError on a crash loop."""
        for child in self.children:
            if child.restarts.waiting:
                if self.stop_requested is None and child.restarts.due(now):
                    self.out(f"starting {child.name} again")
                    child.proc = self._launch(child.name, child.argv, child.env)
                continue
            code = child.proc.poll()
            if code is None:
                continue
            if not child.restarts.died(now):
                raise StackError(
                    f"the {child.name} process exited {len(child.restarts.deaths)} times in "
                    f"{CRASH_LOOP_SECONDS:.0f}s (last exit code {code}); stopping"
                )
            self.out(f"the {child.name} process exited with code {code}")
        for name, server in (("PostgreSQL", self.postgres), ("Redis", self.redis)):
            if server is None or server.proc is None:
                continue
            restarts = self.server_restarts.setdefault(name, Restarts())
            if restarts.waiting:
                if self.stop_requested is None and restarts.due(now):
                    self.out(f"starting {name} again")
                    server.start()  # on the same port: clients reconnect to the URL they hold
                continue
            code = server.proc.poll()
            if code is None:
                continue
            if not restarts.died(now):
                raise StackError(
                    f"{name} exited {len(restarts.deaths)} times in {CRASH_LOOP_SECONDS:.0f}s "
                    f"(last exit code {code}); see its log in {self.home.logs_dir}"
                )
            self.out(f"{name} exited with code {code}")

    def stop(self) -> None:
        api = [c for c in self.children if c.name == "api"]
        workers = [c for c in self.children if c.name != "api"]
        for group in (api, workers):
            for child in group:
                if child.proc.poll() is None:
                    child.proc.send_signal(signal.SIGTERM)
            for child in group:
                child.stop(self.out)
        self.children.clear()
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()
        self.home.unlock()


def _connect_host(bind_host: str) -> str:
    return "127.0.0.1" if bind_host in {"0.0.0.0", "", "::"} else bind_host  # noqa: S104


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise StackError(
                f"cannot listen on {host}:{port} ({exc.strerror}); is another Orca running? "
                "Set ORCA_API_PORT to use another port"
            ) from None
