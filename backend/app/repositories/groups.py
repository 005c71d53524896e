from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, Select, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import SystemGroup, SystemGroupMember
from app.repositories.filters import contains


def search(
    *, visible: ColumnElement[bool] | None = None, q: str | None = None
) -> Select[SystemGroup]:
    stmt = select(SystemGroup).where(visible if visible is not None else true())
    if q:
        stmt = stmt.where(contains(q, SystemGroup.name, SystemGroup.description))
    return stmt


async def system_counts(session: AsyncSession, group_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    result = await session.execute(
        select(SystemGroupMember.group_id, func.count())
        .where(SystemGroupMember.group_id.in_(group_ids))
        .group_by(SystemGroupMember.group_id)
    )
    return {row[0]: int(row[1]) for row in result.all()}
