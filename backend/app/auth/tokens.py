"""Access tokens (signed JWTs) and refresh tokens (opaque random strings stored as hashes).

An access token is accepted only when every check holds: the header names the one configured
algorithm, the signature verifies with our key, it has every claim we issue, it is an access
token, it is inside its validity window, and (checked by the caller against the database) its
token version and session are still current. Every refusal raises the same `InvalidToken`, and
the API answers all of them with one 401 body, so a client learns nothing about which check
failed.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from jose import JWTError, jwt
from jose.exceptions import ExpiredSignatureError, JWTClaimsError

from app.core.config import Settings
from app.models.enums import Role

ACCESS = "access"
REFRESH_PREFIX = "ort_"
# Tolerated clock difference between API replicas, in seconds.
LEEWAY = 30
_REQUIRED = ("sub", "role", "iat", "nbf", "exp", "jti", "type", "ver", "sid")


class InvalidToken(Exception):
    """The token is not one we accept now. Its `reason` is for the audit log, never for the
    client: malformed, algorithm (none, RS/HS confusion, any other), signature (wrong key,
    edited claims), expired, claims (missing, of the wrong kind, or from the future)."""

    def __init__(self, reason: str = "malformed") -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    role: Role
    token_version: int
    session_id: uuid.UUID
    jti: str
    issued_at: int
    expires_at: int


def issue_access_token(
    settings: Settings,
    *,
    user_id: uuid.UUID,
    username: str,
    role: Role,
    token_version: int,
    session_id: uuid.UUID,
) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds."""
    assert settings.jwt_secret is not None
    now = int(time.time())
    ttl = settings.access_token_ttl_seconds
    claims = {
        "sub": str(user_id),
        "name": username,
        "role": role.value,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
        "type": ACCESS,
        "ver": token_version,
        # The login this token belongs to: revoking it (logout, refresh reuse) ends the token.
        "sid": str(session_id),
    }
    token = jwt.encode(claims, settings.jwt_secret.get_secret_value(), settings.jwt_algorithm)
    return token, ttl


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    assert settings.jwt_secret is not None
    try:
        header = jwt.get_unverified_header(token)
    except (JWTError, ValueError, TypeError, AttributeError) as exc:
        raise InvalidToken("malformed") from exc
    # Checked before the signature: "none", RS/HS confusion and every other algorithm are
    # refused by name, whatever the library would make of them.
    if header.get("alg") != settings.jwt_algorithm:
        raise InvalidToken("algorithm")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[settings.jwt_algorithm],
            options={"require_" + claim: True for claim in ("iat", "exp", "nbf", "sub", "jti")}
            | {"leeway": LEEWAY, "verify_aud": False},
        )
    except ExpiredSignatureError as exc:
        raise InvalidToken("expired") from exc
    except JWTClaimsError as exc:
        raise InvalidToken("claims") from exc
    except JWTError as exc:
        message = str(exc).lower()
        reason = (
            "signature"
            if "signature" in message
            else "claims"
            if "claim" in message
            else "malformed"
        )
        raise InvalidToken(reason) from exc
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidToken("malformed") from exc
    if any(claim not in claims for claim in _REQUIRED) or claims["type"] != ACCESS:
        raise InvalidToken("claims")
    # python-jose checks only that iat is a number; a token issued in the future is forged or
    # minted by a replica with a broken clock.
    now = time.time()
    try:
        issued_at, expires_at = int(claims["iat"]), int(claims["exp"])
        if issued_at > now + LEEWAY:
            raise InvalidToken("claims")
        return AccessClaims(
            user_id=uuid.UUID(str(claims["sub"])),
            role=Role(claims["role"]),
            token_version=int(claims["ver"]),
            session_id=uuid.UUID(str(claims["sid"])),
            jti=str(claims["jti"]),
            issued_at=issued_at,
            expires_at=expires_at,
        )
    except (ValueError, TypeError) as exc:
        raise InvalidToken("claims") from exc


def new_refresh_token() -> str:
    """256 random bits, prefixed so secret scanners and people can tell what it is."""
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    # The token is 256 random bits, so a fast unsalted hash is enough: there is nothing to guess.
    return hashlib.sha256(token.encode()).hexdigest()
