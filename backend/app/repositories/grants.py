from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Grant
from app.models.enums import GrantLevel


def search(
    *,
    team_id: uuid.UUID | None = None,
    group_id: uuid.UUID | None = None,
    level: GrantLevel | None = None,
) -> Select[Grant]:
    stmt = select(Grant)
    if team_id is not None:
        stmt = stmt.where(Grant.team_id == team_id)
    if group_id is not None:
        stmt = stmt.where(Grant.group_id == group_id)
    if level is not None:
        stmt = stmt.where(Grant.level == level)
    return stmt


async def find(session: AsyncSession, team_id: uuid.UUID, group_id: uuid.UUID) -> Grant | None:
    result = await session.execute(
        select(Grant).where(Grant.team_id == team_id, Grant.group_id == group_id)
    )
    return result.scalar_one_or_none()


async def listed(
    session: AsyncSession, *, team_id: uuid.UUID | None = None, group_id: uuid.UUID | None = None
) -> list[dict[str, str]]:
    """The grants of a team or on a group, as plain values (for the audit row of a delete
    that takes them along)."""
    result = await session.execute(search(team_id=team_id, group_id=group_id))
    return [
        {"team_id": str(g.team_id), "group_id": str(g.group_id), "level": g.level.value}
        for g in result.scalars().all()
    ]
