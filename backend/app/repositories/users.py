from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import RefreshToken, TeamMember, User
from app.models.enums import Role
from app.repositories.filters import contains


async def count_admins(session: AsyncSession, *, active_only: bool = False) -> int:
    stmt = select(func.count()).select_from(User).where(User.role == Role.admin)
    if active_only:
        stmt = stmt.where(User.is_active)
    return int((await session.execute(stmt)).scalar_one())


async def lock_active_admins(session: AsyncSession) -> int:
    """Lock every active admin row and count them: two requests demoting two admins at once
    are decided one after the other, so they cannot both see "another admin is left"."""
    result = await session.execute(
        select(User.id)
        .where(User.role == Role.admin, User.is_active)
        .order_by(User.id)  # one order for every locker: no deadlock between two of them
        .with_for_update()
    )
    return len(result.all())


async def get_by_username(session: AsyncSession, username: str) -> User | None:
    result = await session.execute(
        select(User).where(func.lower(User.username) == username.lower())
    )
    return result.scalar_one_or_none()


@dataclass(frozen=True)
class TokenState:
    username: str
    role: Role
    is_active: bool
    token_version: int
    session_revoked: bool


async def token_state(
    session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID
) -> TokenState | None:
    """What an access token is checked against on every request: one indexed round trip."""
    revoked = exists().where(
        RefreshToken.family_id == session_id, RefreshToken.revoked_at.is_not(None)
    )
    row = (
        await session.execute(
            select(
                User.username,
                User.role,
                User.is_active,
                User.token_version,
                revoked.label("session_revoked"),
            ).where(User.id == user_id)
        )
    ).one_or_none()
    if row is None:
        return None
    return TokenState(row.username, row.role, row.is_active, row.token_version, row.session_revoked)


async def bump_token_version(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(User).where(User.id == user_id).values(token_version=User.token_version + 1)
    )


def search(
    *,
    q: str | None = None,
    role: Role | None = None,
    is_active: bool | None = None,
    team_id: uuid.UUID | None = None,
) -> Select[User]:
    stmt = select(User)
    if q:
        stmt = stmt.where(contains(q, User.username, User.full_name, User.email))
    if role is not None:
        stmt = stmt.where(User.role == role)
    if is_active is not None:
        stmt = stmt.where(User.is_active.is_(is_active))
    if team_id is not None:
        stmt = stmt.where(
            exists().where(TeamMember.user_id == User.id, TeamMember.team_id == team_id)
        )
    return stmt
