"""Systems as their readers see them: lists filtered in SQL to what the caller may view.
(Creating and changing systems arrives with the connector work.)"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core.errors import NotFound
from app.models import System
from app.models.enums import GrantLevel, HealthStatus, SystemKind
from app.repositories import systems as systems_repo
from app.repositories.pagination import Page, keyset_page, name_sorts
from app.services import access

SORTS = name_sorts(System)


async def get(session: AsyncSession, principal: Principal, system_id: uuid.UUID) -> System:
    """The system, if the principal may see it; otherwise 404, as if it did not exist."""
    system = await systems_repo.get_visible(
        session, system_id, access.systems_filter(principal, GrantLevel.view)
    )
    if system is None:
        raise NotFound(f"no system with id {system_id}")
    return system


async def search(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    sort: str,
    q: str | None = None,
    kind: SystemKind | None = None,
    health: HealthStatus | None = None,
    group_id: uuid.UUID | None = None,
    labels: dict[str, str] | None = None,
) -> Page[System]:
    if group_id is not None and await access.group_level(session, principal, group_id) is None:
        raise NotFound(
            f"group_id: no group with id {group_id}",
            details=[{"field": "group_id", "message": "no such group"}],
        )
    stmt = systems_repo.search(
        visible=access.systems_filter(principal, GrantLevel.view),
        q=q,
        kind=kind,
        health=health,
        group_id=group_id,
        labels=labels,
    )
    return await keyset_page(session, stmt, SORTS[sort], limit=limit, cursor=cursor)


async def groups_of(
    session: AsyncSession, principal: Principal, systems: list[System]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The groups each system is in, among those the principal may see."""
    return await systems_repo.groups_of(
        session, [system.id for system in systems], access.groups_filter(principal)
    )
