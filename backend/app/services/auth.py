"""Logging in, rotating refresh tokens, logging out, changing one's own password.

Every outcome is audited. Refusals that are facts worth keeping (a failed login, a reused
refresh token and the family it revoked) carry that work as `on_rollback`: it runs and commits
after the failed request's own transaction is rolled back.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import passwords
from app.auth.principal import Principal
from app.auth.ratelimit import Lock, LoginLimiter
from app.auth.tokens import hash_refresh_token, issue_access_token, new_refresh_token
from app.core.config import Settings
from app.core.context import current_client
from app.core.errors import AfterRollback, BadRequest, RateLimited, Unauthorized
from app.models import RefreshToken, User
from app.models.enums import AuditOutcome
from app.repositories import auth as auth_repo
from app.repositories import common as common_repo
from app.repositories import users as users_repo
from app.services import audit

BAD_LOGIN = "Invalid username or password."
BAD_REFRESH = "Invalid or expired refresh token; log in again."


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_at: datetime
    user: User


def _now() -> datetime:
    return datetime.now(UTC)


async def _issue(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    family_id: uuid.UUID,
    family_expires_at: datetime,
) -> tuple[Tokens, RefreshToken]:
    now = _now()
    refresh = new_refresh_token()
    client = current_client()
    row = await auth_repo.add(
        session,
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_refresh_token(refresh),
            expires_at=min(
                now + timedelta(seconds=settings.refresh_token_ttl_seconds), family_expires_at
            ),
            family_expires_at=family_expires_at,
            client_ip=client.ip,
            user_agent=client.user_agent,
        ),
    )
    access, ttl = issue_access_token(
        settings,
        user_id=user.id,
        username=user.username,
        role=user.role,
        token_version=user.token_version,
        session_id=family_id,
    )
    return Tokens(access, ttl, refresh, row.expires_at, user), row


async def start_session(session: AsyncSession, settings: Settings, user: User) -> Tokens:
    """A new token family for `user` (after a login or a password change)."""
    tokens, _ = await _issue(
        session,
        settings,
        user,
        family_id=uuid.uuid4(),
        family_expires_at=_now() + timedelta(seconds=settings.session_max_seconds),
    )
    return tokens


def _throttled(
    lock: Lock, message: str, *, actor: User | None = None, details: dict[str, Any] | None = None
) -> RateLimited:
    """429 for an attempt refused by a lock; only the lock's first refusal is audited."""
    return RateLimited(
        f"{message}; retry in {lock.retry_after} s.",
        headers={"Retry-After": str(lock.retry_after)},
        on_rollback=[
            audit.later(
                "auth.login_throttled",
                actor=actor,
                outcome=AuditOutcome.denied,
                details={
                    "locked": lock.scope,
                    "retry_after_seconds": lock.retry_after,
                    **(details or {}),
                },
            )
        ]
        if lock.first_refusal
        else [],
    )


def typed_name(settings: Settings, username: str) -> dict[str, str]:
    """How the audit log names a login name that matches no account. People type passwords
    into the username field; a masked form and a keyed fingerprint (equal for equal names,
    so repeated attempts can be told apart) keep that text out of a log that cannot be
    purged."""
    assert settings.jwt_secret is not None
    name = username.strip().lower()
    masked = f"{name[0]}…{name[-1]}" if len(name) >= 3 else "…"
    fingerprint = hmac.new(
        settings.jwt_secret.get_secret_value().encode(),
        b"orca-login-name:" + name.encode(),
        hashlib.sha256,
    ).hexdigest()[:16]
    return {"username_masked": masked, "username_fingerprint": fingerprint}


async def login(
    session: AsyncSession, redis: Redis, settings: Settings, username: str, password: str
) -> Tokens:
    limiter = LoginLimiter(redis, settings)
    address = current_client().ip
    lock = await limiter.reserve(username, address)
    user = await users_repo.get_by_username(session, username)
    named = typed_name(settings, username) if user is None else {}
    if lock is not None:
        raise _throttled(
            lock, f"Too many failed logins for this {lock.scope}", actor=user, details=named
        )

    # Argon2 takes tens of milliseconds of CPU: off the event loop. An unknown user costs the
    # same as a known one, so response times do not reveal which names exist.
    if user is None:
        await asyncio.to_thread(passwords.burn_verification_time, password)
        ok, reason = False, "unknown user"
    else:
        ok = await asyncio.to_thread(passwords.verify_password, password, user.password_hash)
        reason = "wrong password" if not ok else ("inactive" if not user.is_active else "")
        ok = ok and user.is_active

    if not ok or user is None:
        # The attempt stays counted: its reservation is not given back.
        details = {"reason": reason, **named}
        raise Unauthorized(
            BAD_LOGIN,
            on_rollback=[
                audit.later(
                    "auth.login_failed",
                    actor=user,
                    outcome=AuditOutcome.failure,
                    details=details,
                )
            ],
        )

    await limiter.release(username, address)
    user.last_login_at = _now()
    tokens = await start_session(session, settings, user)
    await audit.record(session, "auth.login", actor=user, target_type="user", target_id=user.id)
    return tokens


async def refresh(
    session: AsyncSession, redis: Redis, settings: Settings, presented: str
) -> Tokens:
    """Spend `presented` and issue its successor in the same family.

    A token presented a second time means two parties hold it, and we cannot tell which is
    the owner: the whole family is revoked, which also ends the access tokens it issued.
    Refreshes count against the client address's attempt limit like logins (a success gives
    its place back), so guessing tokens or flooding the audit log is bounded per address.
    """
    now = _now()
    limiter = LoginLimiter(redis, settings)
    address = current_client().ip
    lock = await limiter.reserve(None, address)
    if lock is not None:
        raise _throttled(lock, "Too many failed attempts from this address")
    row = await auth_repo.get_by_hash_for_update(session, hash_refresh_token(presented))
    user = await common_repo.get_by_id(session, User, row.user_id) if row is not None else None

    def refuse(reason: str, *first: AfterRollback) -> Unauthorized:
        return Unauthorized(
            BAD_REFRESH,
            on_rollback=[
                *first,
                audit.later(
                    "auth.refresh_reuse" if reason == "reused" else "auth.refresh_failed",
                    actor=user,
                    outcome=AuditOutcome.denied if reason == "reused" else AuditOutcome.failure,
                    target_type="session" if row is not None else None,
                    target_id=row.family_id if row is not None else None,
                    details={"reason": reason},
                ),
            ],
        )

    if row is None:
        raise refuse("unknown token")
    if row.revoked_at is not None or await auth_repo.family_revoked(session, row.family_id):
        raise refuse("revoked")
    if row.used_at is not None:
        family = row.family_id

        async def revoke(session: AsyncSession) -> None:
            await auth_repo.revoke_family(session, family, now)

        raise refuse("reused", revoke)
    if row.expires_at <= now or row.family_expires_at <= now:
        raise refuse("expired")
    if user is None or not user.is_active:
        raise refuse("inactive user")

    tokens, successor = await _issue(
        session, settings, user, family_id=row.family_id, family_expires_at=row.family_expires_at
    )
    row.used_at = now
    row.replaced_by_id = successor.id
    await limiter.release(None, address)
    await audit.record(
        session, "auth.refresh", actor=user, target_type="session", target_id=row.family_id
    )
    return tokens


async def logout(session: AsyncSession, principal: Principal, *, everywhere: bool) -> int:
    """End this login (its refresh family and access tokens), or every login of the user."""
    now = _now()
    if everywhere:
        revoked = await auth_repo.revoke_user(session, principal.id, now)
        # Access tokens of families already spent would otherwise live until they expire.
        await users_repo.bump_token_version(session, principal.id)
    else:
        revoked = await auth_repo.revoke_family(session, principal.session_id, now)
    await audit.record(
        session,
        "auth.logout",
        actor=principal,
        target_type="session",
        target_id=None if everywhere else principal.session_id,
        details={"everywhere": everywhere},
    )
    return revoked


async def change_password(
    session: AsyncSession,
    redis: Redis,
    settings: Settings,
    principal: Principal,
    current_password: str,
    new_password: str,
) -> Tokens:
    """Change the caller's password: every token they hold stops working, and a fresh
    session is returned so that the client making the change stays signed in. A wrong
    current password counts against the same limits as a failed login."""
    user = await common_repo.get_by_id(session, User, principal.id, for_update=True)
    if user is None:
        raise Unauthorized
    limiter = LoginLimiter(redis, settings)
    address = current_client().ip
    lock = await limiter.reserve(user.username, address)
    if lock is not None:
        raise _throttled(lock, "Too many failed attempts", actor=user)
    if not await asyncio.to_thread(passwords.verify_password, current_password, user.password_hash):
        raise BadRequest(
            "current_password does not match your current password",
            details=[{"field": "current_password", "message": "does not match"}],
            on_rollback=[
                audit.later(
                    "auth.password_change",
                    actor=user,
                    outcome=AuditOutcome.failure,
                    target_type="user",
                    target_id=user.id,
                    details={"reason": "wrong current password"},
                )
            ],
        )
    await limiter.release(user.username, address)
    if new_password == current_password:
        raise BadRequest(
            "new_password must differ from the current password",
            details=[{"field": "new_password", "message": "same as the current password"}],
        )
    await set_password(session, settings, user, new_password, "new_password")
    tokens = await start_session(session, settings, user)
    await audit.record(
        session, "auth.password_change", actor=user, target_type="user", target_id=user.id
    )
    return tokens


def check_password_policy(settings: Settings, password: str, username: str, field: str) -> None:
    problem = passwords.policy_problem(password, username, settings.password_min_length)
    if problem:
        raise BadRequest(f"{field} {problem}", details=[{"field": field, "message": problem}])


async def set_password(
    session: AsyncSession, settings: Settings, user: User, password: str, field: str
) -> None:
    """Set a new password (policy checked) and end every session and token of the user."""
    check_password_policy(settings, password, user.username, field)
    user.password_hash = await asyncio.to_thread(passwords.hash_password, password)
    user.password_changed_at = _now()
    user.token_version += 1
    await auth_repo.revoke_user(session, user.id, _now())
