"""Refresh tokens: one row per issued token, grouped into families (one family per login)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import RefreshToken


async def add(session: AsyncSession, token: RefreshToken) -> RefreshToken:
    session.add(token)
    await session.flush()
    return token


async def get_by_hash_for_update(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    """The token row, locked: two refreshes with one token are decided one after the other."""
    result = await session.execute(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    )
    return result.scalar_one_or_none()


async def family_revoked(session: AsyncSession, family_id: uuid.UUID) -> bool:
    result = await session.execute(
        select(func.count())
        .select_from(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_not(None))
    )
    return int(result.scalar_one()) > 0


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, when: datetime) -> int:
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=when)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def revoke_user(session: AsyncSession, user_id: uuid.UUID, when: datetime) -> int:
    """Revoke every family of the user; returns how many tokens were still live."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=when)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
