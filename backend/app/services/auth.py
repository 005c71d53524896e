"""Logging in, rotating refresh tokens, logging out, changing one's own password.

Every outcome is audited. Refusals that are facts worth keeping (a failed login, a reused
refresh token and the family it revoked) are raised with `keep_changes`, so their audit rows
commit although the request fails.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import passwords
from app.auth.principal import Principal
from app.auth.ratelimit import LoginLimiter
from app.auth.tokens import hash_refresh_token, issue_access_token, new_refresh_token
from app.core.config import Settings
from app.core.context import current_client
from app.core.errors import BadRequest, RateLimited, Unauthorized
from app.models import RefreshToken, User
from app.models.enums import AuditOutcome
from app.repositories import auth as auth_repo
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


async def login(
    session: AsyncSession, redis: Redis, settings: Settings, username: str, password: str
) -> Tokens:
    limiter = LoginLimiter(redis, settings)
    address = current_client().ip
    lock = await limiter.check(username, address)
    if lock is not None:
        if lock.first_refusal:
            await audit.record(
                session,
                "auth.login_throttled",
                actor_username=username[:64],
                outcome=AuditOutcome.denied,
                details={"locked": lock.scope, "retry_after_seconds": lock.retry_after},
            )
        raise RateLimited(
            f"Too many failed logins for this {lock.scope}; retry in {lock.retry_after} s.",
            headers={"Retry-After": str(lock.retry_after)},
            keep_changes=True,
        )

    user = await users_repo.get_by_username(session, username)
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
        await limiter.fail(username, address)
        await audit.record(
            session,
            "auth.login_failed",
            actor=user,
            actor_username=username[:64],
            outcome=AuditOutcome.failure,
            details={"reason": reason},
        )
        raise Unauthorized(BAD_LOGIN, keep_changes=True)

    await limiter.succeed(username)
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
    """
    now = _now()
    row = await auth_repo.get_by_hash_for_update(session, hash_refresh_token(presented))

    async def refuse(reason: str, outcome: AuditOutcome = AuditOutcome.failure) -> Unauthorized:
        await audit.record(
            session,
            "auth.refresh_reuse" if reason == "reused" else "auth.refresh_failed",
            actor=user,
            outcome=outcome,
            target_type="session" if row is not None else None,
            target_id=row.family_id if row is not None else None,
            details={"reason": reason},
        )
        return Unauthorized(BAD_REFRESH, keep_changes=True)

    user = await users_repo.get(session, row.user_id) if row is not None else None
    if row is None:
        # 256 random bits cannot be guessed, but an address spraying tokens is still limited.
        await LoginLimiter(redis, settings).fail(None, current_client().ip)
        raise await refuse("unknown token")
    if row.revoked_at is not None or await auth_repo.family_revoked(session, row.family_id):
        raise await refuse("revoked")
    if row.used_at is not None:
        await auth_repo.revoke_family(session, row.family_id, now)
        raise await refuse("reused", AuditOutcome.denied)
    if row.expires_at <= now or row.family_expires_at <= now:
        raise await refuse("expired")
    if user is None or not user.is_active:
        raise await refuse("inactive user")

    tokens, successor = await _issue(
        session, settings, user, family_id=row.family_id, family_expires_at=row.family_expires_at
    )
    row.used_at = now
    row.replaced_by_id = successor.id
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
    session is returned so that the client making the change stays signed in."""
    user = await users_repo.get(session, principal.id, for_update=True)
    if user is None:
        raise Unauthorized
    limiter = LoginLimiter(redis, settings)
    address = current_client().ip
    lock = await limiter.check(user.username, address)
    if lock is not None:
        raise RateLimited(
            f"Too many failed attempts; retry in {lock.retry_after} s.",
            headers={"Retry-After": str(lock.retry_after)},
        )
    if not await asyncio.to_thread(passwords.verify_password, current_password, user.password_hash):
        await limiter.fail(user.username, address)
        await audit.record(
            session,
            "auth.password_change",
            actor=user,
            outcome=AuditOutcome.failure,
            target_type="user",
            target_id=user.id,
            details={"reason": "wrong current password"},
        )
        raise BadRequest(
            "current_password does not match your current password",
            details=[{"field": "current_password", "message": "does not match"}],
            keep_changes=True,
        )
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
