"""Password hashing (argon2 through passlib, so hashes can be upgraded in place later) and the
password policy."""

from __future__ import annotations

import functools
import secrets
import string

from passlib.context import CryptContext

_context = CryptContext(schemes=["argon2"], deprecated="auto")

MAX_LENGTH = 256  # argon2 takes any length; the cap keeps hashing cost bounded per request.

# Passwords that top every breach list. Not a full dictionary: length does most of the work,
# this catches the ones people reach for first.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "abc123abc123",
        "administrator",
        "changeme1234",
        "correcthorsebatterystaple",
        "iloveyou1234",
        "letmein12345",
        "password1234",
        "password12345",
        "password123456",
        "passwordpassword",
        "qwerty123456",
        "qwertyuiop123",
        "qwertyuiopasdf",
        "welcome12345",
        "1q2w3e4r5t6y",
        "aaaaaaaaaaaa",
        "111111111111",
        "000000000000",
        "p@ssw0rd1234",
        "orcaorcaorca",
        "trustno1trustno1",
        "sunshine1234",
        "football1234",
        "monkey123456",
        "dragon123456",
        "baseball1234",
        "superman1234",
    }
)


def hash_password(password: str) -> str:
    return str(_context.hash(password))


def verify_password(password: str, password_hash: str) -> bool:
    return bool(_context.verify(password, password_hash))


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def burn_verification_time(password: str) -> None:
    """Spend what a real verification costs, for a user that does not exist, so that the
    answer's timing does not tell an attacker which usernames are real."""
    verify_password(password, _dummy_hash())


def policy_problem(password: str, username: str, min_length: int) -> str | None:
    """Why `password` is not acceptable for `username`, or None when it is."""
    if len(password) < min_length:
        return f"must be at least {min_length} characters long"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters long"
    if password.strip() != password or not password.strip():
        return "must not start or end with whitespace"
    lowered = password.lower()
    name = username.lower()
    # A short username ("al") would rule out too much; it just may not be the whole password.
    if name and (lowered == name or (len(name) >= 4 and name in lowered)):
        return "must not contain the username"
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 4:
        return "is too common or too repetitive; choose another"
    return None


def generate_password(length: int = 24) -> str:
    """A random password from letters and digits (easy to copy from a terminal)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))
