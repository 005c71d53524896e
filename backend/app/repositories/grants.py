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
