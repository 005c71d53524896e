"""Encryption of credential secrets: Fernet (AES-128-CBC + HMAC-SHA256) through MultiFernet.

`ORCA_ENCRYPTION_KEYS` lists the keys: the first encrypts, every one decrypts, so a new key is
put first, `orca rotate-keys` re-encrypts every secret under it, and the old key can then be
removed. A secret is stored as one token of the JSON of all its secret fields.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class VaultError(Exception):
    """A stored secret cannot be opened with any configured key. Says nothing more."""


class Vault:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("the vault needs at least one key")
        self._fernets = [Fernet(key.encode()) for key in keys]
        self._all = MultiFernet(self._fernets)

    @classmethod
    def from_settings(cls, settings: Any) -> Vault:
        return cls([key.get_secret_value() for key in settings.encryption_keys])

    def seal(self, secret: dict[str, str]) -> bytes:
        return self._all.encrypt(json.dumps(secret, separators=(",", ":")).encode())

    def open(self, token: bytes) -> dict[str, str]:
        try:
            value = json.loads(self._all.decrypt(bytes(token)))
        except (InvalidToken, ValueError) as exc:
            raise VaultError(
                "a stored secret cannot be decrypted with the configured keys"
            ) from exc
        if not isinstance(value, dict):
            raise VaultError("a stored secret has an unexpected shape")
        return {str(k): str(v) for k, v in value.items()}

    def is_current(self, token: bytes) -> bool:
        """Whether the first (encrypting) key opens the token: rotation can skip it."""
        try:
            self._fernets[0].decrypt(bytes(token))
        except InvalidToken:
            return False
        return True

    def rotate(self, token: bytes) -> bytes:
        """The same secret, encrypted under the first key."""
        try:
            return self._all.rotate(bytes(token))
        except InvalidToken as exc:
            raise VaultError(
                "a stored secret cannot be decrypted with the configured keys"
            ) from exc
