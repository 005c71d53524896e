"""Users. (Login, tokens and the rest of identity arrive with the auth service.)"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.passwords import generate_password, hash_password
from app.core.errors import Conflict
from app.models import User
from app.models.enums import Role
from app.repositories import users as users_repo
from app.services import audit


async def create_admin(
    session: AsyncSession, username: str, password: str | None = None
) -> tuple[User, str]:
    """Create an admin account; returns it with its password (generated when not given)."""
    if await users_repo.get_by_username(session, username) is not None:
        raise Conflict(f"a user named {username!r} already exists")
    password = password or generate_password()
    user = await users_repo.add(
        session,
        User(username=username, password_hash=hash_password(password), role=Role.admin),
    )
    await audit.record(
        session,
        "user.create",
        actor_username="orca-cli",
        target_type="user",
        target_id=str(user.id),
        details={"username": username, "role": Role.admin.value, "via": "cli"},
    )
    return user, password


async def ensure_first_admin(session: AsyncSession, username: str = "admin") -> str | None:
    """On a database with no admin, create one and return its generated password (else None)."""
    if await users_repo.count_admins(session) > 0:
        return None
    _, password = await create_admin(session, username)
    return password
