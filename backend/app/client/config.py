"""The client's stored logins: one per server, in the user's config directory.

`<config dir>/config.json` (`click.get_app_dir("orca")`: `$XDG_CONFIG_HOME/orca`, by default
`~/.config/orca`, on Linux) holds, per server URL, the username, the access and refresh tokens
and the CA bundle to trust, and which server was used last. The directory is 0700 and the file
0600; a new version is written to a temporary file created 0600 and renamed over the old one,
so the tokens are never readable by anyone else, not even for a moment, and a crash never
leaves half a file.

Refresh tokens rotate on every use and a spent one presented again revokes the whole session,
so two `orca` processes must never both spend the same one: a refresh takes an exclusive lock
on `<config dir>/config.lock`, reads the file again, and uses the pair another process may have
just stored instead of refreshing a second time.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click

from app.client.errors import AuthRequired, UsageError

FILE_NAME = "config.json"
LOCK_NAME = "config.lock"
DEFAULT_SERVER = "http://127.0.0.1:8000"
# Refresh this long before the access token's expiry, so a request never races it.
EXPIRY_MARGIN_SECONDS = 20.0
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def config_dir() -> Path:
    return Path(click.get_app_dir("orca"))


def normalize_server(url: str) -> str:
    """`orca.example.com` → `https://orca.example.com`, `localhost:8000` → `http://...`; no
    trailing slash or `/api/v1`. Loopback addresses default to http (what `orca up` serves),
    everything else to https."""
    text = url.strip()
    if not text:
        raise UsageError("the server URL is empty")
    if "://" not in text:
        host = (urlsplit("//" + text).hostname or "").lower()
        text = ("http://" if host in _LOOPBACK else "https://") + text
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UsageError(f"{url!r} is not a server URL (https://orca.example.com)")
    path = parts.path.rstrip("/")
    for suffix in ("/api/v1", "/docs"):
        path = path.removesuffix(suffix)
    return urlunsplit((parts.scheme, parts.netloc.lower(), path, "", ""))


@dataclass(frozen=True)
class Login:
    server: str
    username: str
    access_token: str | None = None
    access_expires_at: float = 0.0  # local clock, seconds since the epoch
    refresh_token: str | None = None
    refresh_expires_at: str | None = None  # as the server said (ISO 8601)
    ca_bundle: str | None = None

    def access_fresh(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return self.access_token is not None and now < self.access_expires_at - (
            EXPIRY_MARGIN_SECONDS
        )

    def signed_out(self) -> Login:
        return replace(
            self,
            access_token=None,
            access_expires_at=0.0,
            refresh_token=None,
            refresh_expires_at=None,
        )


@dataclass
class Config:
    current: str | None = None
    servers: dict[str, Login] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "current": self.current,
            "servers": {
                url: {k: v for k, v in asdict(login).items() if k != "server"}
                for url, login in self.servers.items()
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> Config:
        if not isinstance(data, dict) or not isinstance(data.get("servers", {}), dict):
            raise ValueError("not an orca client configuration")
        servers = {}
        for url, entry in data.get("servers", {}).items():
            if not isinstance(entry, dict) or not isinstance(entry.get("username"), str):
                continue
            known = {k: entry[k] for k in Login.__dataclass_fields__ if k in entry}
            known.pop("server", None)
            servers[url] = Login(server=url, **known)
        current = data.get("current")
        return cls(current if isinstance(current, str) else None, servers)


class Store:
    """Reads and writes `config.json` under `directory` (the user's config dir by default)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / FILE_NAME

    def load(self) -> Config:
        try:
            info = self.path.stat()
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Config()
        except OSError as exc:
            raise UsageError(f"cannot read {self.path}: {exc.strerror}") from None
        if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            # Someone loosened it: tighten it back rather than go on leaking tokens.
            with contextlib.suppress(OSError):
                os.chmod(self.path, 0o600)
            print(
                f"warning: {self.path} was readable by others; it is now 0600. Run `orca "
                "logout` and `orca login` if others may have read your tokens.",
                file=sys.stderr,
            )
        try:
            return Config.from_json(json.loads(text))
        except ValueError:
            raise UsageError(
                f"{self.path} is damaged; remove it and run `orca login` again"
            ) from None

    def save(self, config: Config) -> None:
        self._ensure_directory()
        if not config.servers:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        data = json.dumps(config.to_json(), indent=2, sort_keys=True) + "\n"
        # mkstemp creates the file 0600 (O_EXCL, so never someone else's file); the rename
        # replaces the old one in one step.
        fd, temporary = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name != "posix":
            return
        info = self.directory.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO) and info.st_uid == os.getuid():
            os.chmod(self.directory, 0o700)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive lock that serializes refreshes between `orca` processes."""
        self._ensure_directory()
        try:
            import fcntl
        except ImportError:  # Windows: no flock; one orca at a time is then the user's part
            yield
            return
        fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    # The logins ------------------------------------------------------------------------------

    def server_for(self, given: str | None) -> str:
        """The server to talk to: `--server`/ORCA_SERVER, else the one logged in to last."""
        if given:
            return normalize_server(given)
        current = self.load().current
        if current is None:
            raise AuthRequired("not logged in: run `orca login --server URL`")
        return current

    def login_for(self, server: str) -> Login:
        login = self.load().servers.get(server)
        if login is None:
            raise AuthRequired(f"not logged in to {server}: run `orca login --server {server}`")
        if login.refresh_token is None and login.access_token is None:
            raise AuthRequired(
                f"your session on {server} has ended: run `orca login --server {server}`"
            )
        return login

    def put(self, login: Login, *, make_current: bool = True) -> None:
        config = self.load()
        config.servers[login.server] = login
        if make_current:
            config.current = login.server
        self.save(config)

    def forget(self, server: str) -> bool:
        """Remove the server's login (its tokens and settings); True if there was one."""
        config = self.load()
        found = config.servers.pop(server, None) is not None
        if config.current == server:
            config.current = next(iter(config.servers), None)
        self.save(config)
        return found
