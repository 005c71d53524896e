"""Password hashing: argon2 through passlib, so hashes can be upgraded in place later."""

from __future__ import annotations

import secrets
import string

from passlib.context import CryptContext

_context = CryptContext(schemes=["argon2"], deprecated="auto")


def hash_password(password: str) -> str:
    return str(_context.hash(password))


def verify_password(password: str, password_hash: str) -> bool:
    return bool(_context.verify(password, password_hash))


def generate_password(length: int = 24) -> str:
    """A random password from letters and digits (easy to copy from a terminal)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))
