"""Queries on job templates and the teams granted them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import JobTemplate, Team, TeamMember, TemplateGrant
from app.models.enums import TemplateLevel
from app.repositories.filters import contains


def granted_to(user_id: uuid.UUID) -> ColumnElement[bool]:
    """A WHERE clause on JobTemplate: granted (at any level) to a team the user is in."""
    return exists().where(
        TemplateGrant.template_id == JobTemplate.id,
        TemplateGrant.team_id == TeamMember.team_id,
        TeamMember.user_id == user_id,
    )


def created_or_granted(user_id: uuid.UUID) -> ColumnElement[bool]:
    return or_(JobTemplate.created_by_id == user_id, granted_to(user_id))


def search(*, visible: ColumnElement[bool], q: str | None = None) -> Select[Any]:
    stmt = select(JobTemplate).where(visible)
    if q:
        stmt = stmt.where(contains(q, JobTemplate.name, JobTemplate.description))
    return stmt


async def get_visible(
    session: AsyncSession,
    template_id: uuid.UUID,
    visible: ColumnElement[bool],
    *,
    for_update: bool = False,
) -> JobTemplate | None:
    stmt = select(JobTemplate).where(JobTemplate.id == template_id, visible)
    if for_update:
        stmt = stmt.with_for_update()
    result = await session.execute(stmt)
    return result.scalar_one_or_none()


async def user_levels(
    session: AsyncSession, user_id: uuid.UUID, template_ids: list[uuid.UUID]
) -> dict[uuid.UUID, set[TemplateLevel]]:
    """The levels the user's teams hold on each template."""
    if not template_ids:
        return {}
    result = await session.execute(
        select(TemplateGrant.template_id, TemplateGrant.level)
        .join(TeamMember, TeamMember.team_id == TemplateGrant.team_id)
        .where(TeamMember.user_id == user_id, TemplateGrant.template_id.in_(template_ids))
    )
    levels: dict[uuid.UUID, set[TemplateLevel]] = {}
    for template_id, level in result.all():
        levels.setdefault(template_id, set()).add(level)
    return levels


async def grants(
    session: AsyncSession, template_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[uuid.UUID, str, TemplateLevel]]]:
    """Each template's grants: (team id, team name, level), by team name."""
    if not template_ids:
        return {}
    result = await session.execute(
        select(TemplateGrant.template_id, Team.id, Team.name, TemplateGrant.level)
        .join(Team, Team.id == TemplateGrant.team_id)
        .where(TemplateGrant.template_id.in_(template_ids))
        .order_by(func.lower(Team.name))
    )
    found: dict[uuid.UUID, list[tuple[uuid.UUID, str, TemplateLevel]]] = {}
    for template_id, team_id, team_name, level in result.all():
        found.setdefault(template_id, []).append((team_id, team_name, level))
    return found


async def replace_grants(
    session: AsyncSession, template_id: uuid.UUID, levels: dict[uuid.UUID, TemplateLevel]
) -> None:
    await session.execute(delete(TemplateGrant).where(TemplateGrant.template_id == template_id))
    session.add_all(
        TemplateGrant(template_id=template_id, team_id=team_id, level=level)
        for team_id, level in levels.items()
    )
    await session.flush()


async def teams_by_reference(
    session: AsyncSession, ids: list[uuid.UUID], names: list[str]
) -> list[Team]:
    clauses = []
    if ids:
        clauses.append(Team.id.in_(ids))
    if names:
        clauses.append(func.lower(Team.name).in_([name.lower() for name in names]))
    if not clauses:
        return []
    result = await session.execute(select(Team).where(or_(*clauses)))
    return list(result.scalars())
