"""User accounts: created, changed and removed by admins; every change audited."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.passwords import generate_password, hash_password
from app.auth.principal import Principal
from app.core.config import Settings
from app.core.errors import Conflict
from app.models import User
from app.models.enums import Role
from app.repositories import auth as auth_repo
from app.repositories import common as common_repo
from app.repositories import teams as teams_repo
from app.repositories import users as users_repo
from app.repositories.pagination import Order, Page, keyset_page
from app.services import audit
from app.services.auth import check_password_policy, set_password
from app.services.common import changes_of, get_or_404

CLI_ACTOR = "orca-cli"

SORTS = {
    "username": Order.of("username", User.username, User.id),
    "-username": Order.of("-username", User.username, User.id),
    "created_at": Order.of("created_at", User.created_at, User.id),
    "-created_at": Order.of("-created_at", User.created_at, User.id),
}


async def create_admin(
    session: AsyncSession, username: str, password: str | None = None
) -> tuple[User, str]:
    """Create an admin account from the command line; returns it with its password (generated
    when not given)."""
    if await users_repo.get_by_username(session, username) is not None:
        raise Conflict(f"a user named {username!r} already exists")
    password = password or generate_password()
    user = await common_repo.add(
        session,
        User(username=username, password_hash=hash_password(password), role=Role.admin),
    )
    await audit.record(
        session,
        "user.create",
        actor_username=CLI_ACTOR,
        target_type="user",
        target_id=user.id,
        details={"username": username, "role": Role.admin.value, "via": "cli"},
    )
    return user, password


async def ensure_first_admin(session: AsyncSession, username: str = "admin") -> str | None:
    """On a database with no admin, create one and return its generated password (else None)."""
    if await users_repo.count_admins(session) > 0:
        return None
    _, password = await create_admin(session, username)
    return password


@dataclass(frozen=True)
class NewUser:
    user: User
    generated_password: str | None


async def create(
    session: AsyncSession,
    settings: Settings,
    actor: Principal,
    *,
    username: str,
    password: str | None,
    role: Role,
    email: str | None = None,
    full_name: str | None = None,
) -> NewUser:
    if await users_repo.get_by_username(session, username) is not None:
        raise Conflict(
            f"username: a user named {username!r} already exists",
            details=[{"field": "username", "message": "already taken"}],
        )
    generated = None
    if password is None:
        password = generated = generate_password()
    else:
        check_password_policy(settings, password, username, "password")
    user = await common_repo.add(
        session,
        User(
            username=username,
            password_hash=await asyncio.to_thread(hash_password, password),
            role=role,
            email=email,
            full_name=full_name,
        ),
    )
    await audit.record(
        session,
        "user.create",
        actor=actor,
        target_type="user",
        target_id=user.id,
        details={"username": username, "role": role.value},
    )
    return NewUser(user, generated)


async def get(session: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False) -> User:
    return await get_or_404(session, User, user_id, "user", for_update=for_update)


async def search(
    session: AsyncSession,
    *,
    limit: int,
    cursor: str | None,
    sort: str,
    q: str | None = None,
    role: Role | None = None,
    is_active: bool | None = None,
    team_id: uuid.UUID | None = None,
) -> Page[User]:
    stmt = users_repo.search(q=q, role=role, is_active=is_active, team_id=team_id)
    return await keyset_page(session, stmt, SORTS[sort], limit=limit, cursor=cursor)


async def _keep_an_admin(session: AsyncSession, user: User, change: str) -> None:
    """Refuse a change that would leave no active admin to undo it."""
    if user.role == Role.admin and user.is_active:
        if await users_repo.lock_active_admins(session) <= 1:
            raise Conflict(f"{change} would leave Orca without an active admin")


async def update(
    session: AsyncSession, actor: Principal, user_id: uuid.UUID, changes: dict[str, Any]
) -> User:
    """Apply the given fields (role, is_active, email, full_name). A changed role or a
    deactivation ends the user's sessions at once."""
    if "role" in changes or "is_active" in changes:
        # Admins first, then the target: every request that may remove an admin locks in the
        # same order, so two of them wait for each other instead of deadlocking.
        await users_repo.lock_active_admins(session)
    user = await get(session, user_id, for_update=True)
    if changes.get("role", user.role) != user.role:
        await _keep_an_admin(session, user, "changing the role of the last admin")
    if changes.get("is_active", user.is_active) is False and user.is_active:
        await _keep_an_admin(session, user, "deactivating the last admin")
    changed = changes_of(user, changes)
    if "is_active" in changed or "role" in changed:
        # The role is read from the database on each request, but a token also names it, and
        # a deactivated user must lose every session: start them over.
        user.token_version += 1
        await auth_repo.revoke_user(session, user.id, datetime.now(UTC))
    await session.flush()
    if changed:
        deactivated = changed.get("is_active", {}).get("to") is False
        await audit.record(
            session,
            "user.deactivate" if deactivated else "user.update",
            actor=actor,
            target_type="user",
            target_id=user.id,
            details={"username": user.username, "changes": changed},
        )
    return user


async def reset_password(
    session: AsyncSession,
    settings: Settings,
    actor: Principal,
    user_id: uuid.UUID,
    password: str | None,
) -> str | None:
    """Set a user's password (generated when not given; then returned once)."""
    user = await get(session, user_id, for_update=True)
    generated = None
    if password is None:
        password = generated = generate_password()
    await set_password(session, settings, user, password, "password")
    await audit.record(
        session,
        "user.password_reset",
        actor=actor,
        target_type="user",
        target_id=user.id,
        details={"username": user.username, "generated": generated is not None},
    )
    return generated


async def delete(session: AsyncSession, actor: Principal, user_id: uuid.UUID) -> None:
    """Remove an account. Its audit history stays, naming it by id and username."""
    await users_repo.lock_active_admins(session)
    user = await get(session, user_id, for_update=True)
    if user.id == actor.id:
        raise Conflict("you cannot delete your own account; ask another admin")
    await _keep_an_admin(session, user, "deleting the last admin")
    details = {
        "username": user.username,
        "role": user.role.value,
        "teams": [str(team.id) for team in await teams_repo.teams_of(session, user.id)],
    }
    await common_repo.delete(session, user)
    await audit.record(
        session, "user.delete", actor=actor, target_type="user", target_id=user_id, details=details
    )
