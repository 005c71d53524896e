"""Every forged, stale or misused access token is refused with one and the same 401."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.tokens import InvalidToken, decode_access_token, new_refresh_token
from app.core.config import Settings
from app.models import AuditEvent, RefreshToken
from app.models.enums import Role
from tests.fixtures.auth import Account, MakeAccount, token_for

ME = "/api/v1/auth/me"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(account: Account, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": str(account.user.id),
        "name": account.user.username,
        "role": account.user.role.value,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "type": "access",
        "ver": account.user.token_version,
        "sid": str(uuid.uuid4()),
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(settings: Settings, claims: dict[str, Any], algorithm: str | None = None) -> str:
    assert settings.jwt_secret is not None
    return jwt.encode(
        claims, settings.jwt_secret.get_secret_value(), algorithm or settings.jwt_algorithm
    )


def _rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


Forger = Callable[[Settings, Account], str]

FORGERIES: dict[str, Forger] = {
    "alg none": lambda s, a: f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(a))}.",
    "alg None, signature kept": lambda s, a: (
        f"{_b64({'alg': 'None', 'typ': 'JWT'})}.{_b64(_claims(a))}."
        + _sign(s, _claims(a)).split(".")[2]
    ),
    "another HMAC algorithm": lambda s, a: _sign(s, _claims(a), "HS512"),
    "RS256 (HS/RS confusion)": lambda s, a: jwt.encode(_claims(a), _rsa_pem().decode(), "RS256"),
    "wrong key": lambda s, a: jwt.encode(_claims(a), "x" * 48, "HS256"),
    "signature of other claims": lambda s, a: ".".join(
        [*_sign(s, _claims(a)).split(".")[:2], _sign(s, _claims(a, role="viewer")).split(".")[2]]
    ),
    "edited claims": lambda s, a: ".".join(
        [
            _sign(s, _claims(a)).split(".")[0],
            _b64(_claims(a, role="admin")),
            _sign(s, _claims(a)).split(".")[2],
        ]
    ),
    "expired": lambda s, a: _sign(
        s,
        _claims(
            a, iat=int(time.time()) - 4000, nbf=int(time.time()) - 4000, exp=int(time.time()) - 3000
        ),
    ),
    "not yet valid": lambda s, a: _sign(s, _claims(a, nbf=int(time.time()) + 3000)),
    "issued in the future": lambda s, a: _sign(s, _claims(a, iat=int(time.time()) + 3000)),
    "no expiry": lambda s, a: _sign(s, _claims(a, exp=None)),
    "no session": lambda s, a: _sign(s, _claims(a, sid=None)),
    "no version": lambda s, a: _sign(s, _claims(a, ver=None)),
    "refresh type": lambda s, a: _sign(s, _claims(a, type="refresh")),
    "stale token version": lambda s, a: _sign(s, _claims(a, ver=a.user.token_version + 1)),
    "unknown user": lambda s, a: _sign(s, _claims(a, sub=str(uuid.uuid4()))),
    "subject not a uuid": lambda s, a: _sign(s, _claims(a, sub="admin")),
    "unknown role": lambda s, a: _sign(s, _claims(a, role="root")),
    "a refresh token": lambda s, a: new_refresh_token(),
    "garbage": lambda s, a: "not.a.jwt",
    "empty segments": lambda s, a: "..",
}


@pytest.fixture
async def viewer(make_account: MakeAccount) -> Account:
    return await make_account(Role.viewer)


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(ME, headers={"Authorization": f"Bearer {token}"})


async def test_a_valid_token_is_accepted(client: httpx.AsyncClient, viewer: Account) -> None:
    response = await _me(client, viewer.token)
    assert response.status_code == 200, response.text
    assert response.json()["username"] == viewer.user.username


@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_forged_and_misused_tokens_get_the_same_401(
    client: httpx.AsyncClient, settings: Settings, viewer: Account, forgery: str
) -> None:
    baseline = await client.get(ME)  # no token at all
    response = await _me(client, FORGERIES[forgery](settings, viewer))
    assert response.status_code == 401
    assert (
        response.json()
        == baseline.json()
        == {
            "error": {
                "code": "unauthorized",
                "message": "Missing, invalid or expired access token.",
                "details": None,
            }
        }
    )
    assert response.headers["WWW-Authenticate"] == "Bearer"


EXPECTED_REASON = {
    "alg none": "algorithm",
    "alg None, signature kept": "algorithm",
    "another HMAC algorithm": "algorithm",
    "RS256 (HS/RS confusion)": "algorithm",
    "wrong key": "signature",
    "signature of other claims": "signature",
    "edited claims": "signature",
    "expired": "expired",
    "not yet valid": "claims",
    "issued in the future": "claims",
    "no expiry": "claims",
    "no session": "claims",
    "no version": "claims",
    "refresh type": "claims",
    "stale token version": "revoked",
    "unknown user": "revoked",
    "subject not a uuid": "claims",
    "unknown role": "claims",
    "a refresh token": "malformed",
    "garbage": "malformed",
    "empty segments": "malformed",
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_a_refused_token_is_audited_once_a_minute_per_address_and_reason(
    client: httpx.AsyncClient,
    settings: Settings,
    session: AsyncSession,
    viewer: Account,
    forgery: str,
) -> None:
    token = FORGERIES[forgery](settings, viewer)
    for _ in range(3):  # a flood of one kind writes one row
        assert (await _me(client, token)).status_code == 401
    rows = (
        (
            await session.execute(
                select(AuditEvent).where(AuditEvent.action == "auth.token_rejected")
            )
        )
        .scalars()
        .all()
    )
    assert len(rows) == 1, [row.details for row in rows]
    (row,) = rows
    assert row.outcome.value == "denied"
    assert row.details["reason"] == EXPECTED_REASON[forgery]
    assert row.details["path"] == ME and row.details["method"] == "GET"
    assert token not in str(row.details)  # the token itself is never kept
    assert (await client.get(ME)).status_code == 401  # no token at all: not an attack
    assert (
        await session.execute(select(AuditEvent).where(AuditEvent.action == "auth.token_rejected"))
    ).scalars().all() == rows


async def test_tokens_of_deactivated_and_deleted_users_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, make_account: MakeAccount
) -> None:
    deactivated, deleted = await make_account(), await make_account()
    assert (await _me(client, deactivated.token)).status_code == 200
    assert (await _me(client, deleted.token)).status_code == 200
    deactivated.user.is_active = False
    await session.delete(deleted.user)
    await session.flush()
    assert (await _me(client, deactivated.token)).status_code == 401
    assert (await _me(client, deleted.token)).status_code == 401


async def test_a_token_of_a_revoked_session_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, viewer: Account
) -> None:
    family = uuid.uuid4()
    token = token_for(settings, viewer.user, family)
    assert (await _me(client, token)).status_code == 200
    session.add(
        RefreshToken(
            user_id=viewer.user.id,
            family_id=family,
            token_hash=uuid.uuid4().hex,
            expires_at=viewer.user.created_at,
            family_expires_at=viewer.user.created_at,
            revoked_at=viewer.user.created_at,
        )
    )
    await session.flush()
    assert (await _me(client, token)).status_code == 401


def test_decode_gives_its_reason_to_the_log_only(settings: Settings) -> None:
    # The client gets one body for every reason (test_forged_and_misused_tokens_get_the_same_401).
    with pytest.raises(InvalidToken) as caught:
        decode_access_token(settings, "not.a.jwt")
    assert caught.value.reason == "malformed"
