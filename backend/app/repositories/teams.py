from __future__ import annotations

import uuid

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Team, TeamMember
from app.repositories.filters import contains


def search(*, q: str | None = None, user_id: uuid.UUID | None = None) -> Select[Team]:
    stmt = select(Team)
    if q:
        stmt = stmt.where(contains(q, Team.name, Team.description))
    if user_id is not None:
        stmt = stmt.where(
            exists().where(TeamMember.team_id == Team.id, TeamMember.user_id == user_id)
        )
    return stmt


async def member_counts(session: AsyncSession, team_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    result = await session.execute(
        select(TeamMember.team_id, func.count())
        .where(TeamMember.team_id.in_(team_ids))
        .group_by(TeamMember.team_id)
    )
    return {row[0]: int(row[1]) for row in result.all()}


async def teams_of(session: AsyncSession, user_id: uuid.UUID) -> list[Team]:
    result = await session.execute(
        select(Team)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == user_id)
        .order_by(Team.name)
    )
    return list(result.scalars().all())


async def member_ids(session: AsyncSession, team_id: uuid.UUID) -> list[str]:
    result = await session.execute(select(TeamMember.user_id).where(TeamMember.team_id == team_id))
    return [str(user_id) for user_id in result.scalars().all()]
