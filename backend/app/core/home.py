"""The data directory of `orca up` (ORCA_HOME): generated secrets, remembered ports, a lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.fernet import Fernet


class HomeError(RuntimeError):
    """ORCA_HOME cannot be used; the message says why and what to do."""


class HomeLocked(HomeError):
    pass


@dataclass
class GeneratedSecrets:
    """Secrets made on the first `orca up` and kept, mode 0600, in ORCA_HOME/secrets.json."""

    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    encryption_keys: list[str] = field(default_factory=lambda: [Fernet.generate_key().decode()])
    postgres_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    redis_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))


class Home:
    def __init__(self, path: Path) -> None:
        self.path = path.expanduser().resolve()
        self.secrets_file = self.path / "secrets.json"
        self.state_file = self.path / "state.json"
        self.postgres_dir = self.path / "postgres"
        self.redis_dir = self.path / "redis"
        self.logs_dir = self.path / "logs"
        self._lock_handle: IO[str] | None = None

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.path.chmod(0o700)
        self.logs_dir.mkdir(mode=0o700, exist_ok=True)
        self.logs_dir.chmod(0o700)

    def lock(self) -> None:
        """Hold an exclusive lock for this process's life: one `orca up` per data directory."""
        handle = open(self.path / "orca.lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise HomeLocked(
                f"{self.path} is in use by orca up (pid {holder}); stop it first"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_handle = handle

    def unlock(self) -> None:
        if self._lock_handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def load_or_create_secrets(self) -> GeneratedSecrets:
        """The stored secrets, or new ones written now."""
        if not self.secrets_file.exists():
            generated = GeneratedSecrets()
            _write_private(self.secrets_file, json.dumps(asdict(generated), indent=2))
            return generated
        try:
            return GeneratedSecrets(**json.loads(self.secrets_file.read_text()))
        except (ValueError, TypeError):
            # Never regenerate: the encryption key in it is what decrypts stored credentials.
            raise HomeError(
                f"{self.secrets_file} is damaged (not the JSON orca up wrote); restore it from "
                "a backup, or move ORCA_HOME away to start afresh"
            ) from None

    def read_state(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads(self.state_file.read_text())
            return state
        except (OSError, ValueError):
            return {}

    def write_state(self, **values: Any) -> None:
        _write_private(self.state_file, json.dumps({**self.read_state(), **values}, indent=2))


def _write_private(path: Path, content: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
