from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import System, SystemGroup, SystemGroupMember
from app.models.enums import HealthStatus, SystemKind
from app.repositories.filters import contains


def search(
    *,
    visible: ColumnElement[bool],
    q: str | None = None,
    kind: SystemKind | None = None,
    health: HealthStatus | None = None,
    group_id: uuid.UUID | None = None,
    labels: dict[str, str] | None = None,
    connector: str | None = None,
) -> Select[System]:
    stmt = select(System).where(visible)
    if q:
        stmt = stmt.where(contains(q, System.name, System.host, System.description))
    if kind is not None:
        stmt = stmt.where(System.kind == kind)
    if health is not None:
        stmt = stmt.where(System.health_status == health)
    if group_id is not None:
        stmt = stmt.where(
            exists().where(
                SystemGroupMember.system_id == System.id, SystemGroupMember.group_id == group_id
            )
        )
    if labels:
        stmt = stmt.where(System.labels.contains(labels))
    if connector:
        stmt = stmt.where(System.connector == connector)
    return stmt


async def get_visible(
    session: AsyncSession, system_id: uuid.UUID, visible: ColumnElement[bool]
) -> System | None:
    result = await session.execute(select(System).where(System.id == system_id, visible))
    return result.scalar_one_or_none()


async def groups_of(
    session: AsyncSession, system_ids: list[uuid.UUID], visible: ColumnElement[bool]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The groups (among those `visible`) each system belongs to."""
    result = await session.execute(
        select(SystemGroupMember.system_id, SystemGroupMember.group_id)
        .join(SystemGroup, SystemGroup.id == SystemGroupMember.group_id)
        .where(SystemGroupMember.system_id.in_(system_ids), visible)
        .order_by(SystemGroup.name)
    )
    groups: dict[uuid.UUID, list[uuid.UUID]] = {}
    for system_id, group_id in result.all():
        groups.setdefault(system_id, []).append(group_id)
    return groups


async def id_by_name(session: AsyncSession, model: type[Any], name: str) -> uuid.UUID | None:
    result = await session.execute(select(model.id).where(func.lower(model.name) == name.lower()))
    found: uuid.UUID | None = result.scalar_one_or_none()
    return found


async def set_health(
    session: AsyncSession,
    system_id: uuid.UUID,
    status: HealthStatus,
    error: str | None,
    checked_at: Any,
) -> HealthStatus | None:
    """Store a check's result; return the status it had before (None: no such system)."""
    previous = (
        await session.execute(select(System.health_status).where(System.id == system_id))
    ).scalar_one_or_none()
    await session.execute(
        update(System)
        .where(System.id == system_id)
        .values(health_status=status, last_error=error, last_checked_at=checked_at)
    )
    return previous


async def claim_due(
    session: AsyncSession, checked_before: Any, now: Any, limit: int
) -> list[System]:
    """Systems never checked or last checked before `checked_before`, oldest first, claimed:
    their check time is set to `now` (rows another sweep holds are skipped)."""
    due = (
        select(System.id)
        .where((System.last_checked_at.is_(None)) | (System.last_checked_at < checked_before))
        .order_by(System.last_checked_at.asc().nulls_first(), System.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        # Materialized: as `IN (subquery)` the LIMIT may be run more than once.
        .cte("due")
        .prefix_with("MATERIALIZED")
    )
    result = await session.execute(
        update(System).where(System.id == due.c.id).values(last_checked_at=now).returning(System)
    )
    return list(result.scalars().all())
