"""The SQL behind object grants: which systems and groups a user reaches, and at what level."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.policy import LEVEL_RANK, levels_at_least
from app.models import Grant, System, SystemGroup, SystemGroupMember, TeamMember
from app.models.enums import GrantLevel

_RANK = case(*((Grant.level == level, rank) for level, rank in LEVEL_RANK.items()), else_=0)


def granted_groups(user_id: uuid.UUID, level: GrantLevel = GrantLevel.view) -> Select[Any]:
    """Ids of the groups on which one of the user's teams holds at least `level`."""
    return (
        select(Grant.group_id)
        .join(TeamMember, TeamMember.team_id == Grant.team_id)
        .where(TeamMember.user_id == user_id, Grant.level.in_(levels_at_least(level)))
    )


def granted_systems(user_id: uuid.UUID, level: GrantLevel = GrantLevel.view) -> Select[Any]:
    """Ids of the systems in a group on which the user holds at least `level`."""
    return select(SystemGroupMember.system_id).where(
        SystemGroupMember.group_id.in_(granted_groups(user_id, level))
    )


def system_visible(user_id: uuid.UUID, level: GrantLevel = GrantLevel.view) -> ColumnElement[bool]:
    return System.id.in_(granted_systems(user_id, level))


def group_visible(user_id: uuid.UUID, level: GrantLevel = GrantLevel.view) -> ColumnElement[bool]:
    return SystemGroup.id.in_(granted_groups(user_id, level))


async def system_ranks(
    session: AsyncSession, user_id: uuid.UUID, system_ids: list[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """The highest grant rank the user holds on each of `system_ids` (absent: none)."""
    result = await session.execute(
        select(SystemGroupMember.system_id, func.max(_RANK))
        .join(Grant, Grant.group_id == SystemGroupMember.group_id)
        .join(TeamMember, TeamMember.team_id == Grant.team_id)
        .where(TeamMember.user_id == user_id, SystemGroupMember.system_id.in_(system_ids))
        .group_by(SystemGroupMember.system_id)
    )
    return {row[0]: int(row[1]) for row in result.all()}


async def group_rank(session: AsyncSession, user_id: uuid.UUID, group_id: uuid.UUID) -> int:
    result = await session.execute(
        select(func.max(_RANK))
        .select_from(Grant)
        .join(TeamMember, TeamMember.team_id == Grant.team_id)
        .where(TeamMember.user_id == user_id, Grant.group_id == group_id)
    )
    return int(result.scalar_one() or 0)
