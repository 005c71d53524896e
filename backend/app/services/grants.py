"""Grants: a team's level (view < execute < manage) on a system group. One grant per team and
group; changing the level replaces it. Takes effect on the members' next request."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core.errors import Conflict
from app.models import Grant, SystemGroup, Team
from app.models.enums import GrantLevel
from app.repositories import common as common_repo
from app.repositories import grants as grants_repo
from app.repositories.pagination import Order, Page, keyset_page
from app.services import audit
from app.services.common import changes_of, get_or_404, require_existing

SORTS = {
    "created_at": Order.of("created_at", Grant.created_at, Grant.id),
    "-created_at": Order.of("-created_at", Grant.created_at, Grant.id),
}


async def get(session: AsyncSession, grant_id: uuid.UUID, *, for_update: bool = False) -> Grant:
    return await get_or_404(session, Grant, grant_id, "grant", for_update=for_update)


async def search(
    session: AsyncSession,
    *,
    limit: int,
    cursor: str | None,
    sort: str,
    team_id: uuid.UUID | None = None,
    group_id: uuid.UUID | None = None,
    level: GrantLevel | None = None,
) -> Page[Grant]:
    stmt = grants_repo.search(team_id=team_id, group_id=group_id, level=level)
    return await keyset_page(session, stmt, SORTS[sort], limit=limit, cursor=cursor)


async def create(
    session: AsyncSession,
    actor: Principal,
    *,
    team_id: uuid.UUID,
    group_id: uuid.UUID,
    level: GrantLevel,
) -> Grant:
    await require_existing(session, Team, [team_id], "team_id", "team")
    await require_existing(session, SystemGroup, [group_id], "group_id", "group")
    existing = await grants_repo.find(session, team_id, group_id)
    if existing is not None:
        raise Conflict(
            f"this team already holds {existing.level.value} on this group (grant "
            f"{existing.id}); change its level instead",
            details={"grant_id": str(existing.id)},
        )
    grant = await common_repo.add(
        session, Grant(team_id=team_id, group_id=group_id, level=level, created_by_id=actor.id)
    )
    await audit.record(
        session,
        "grant.create",
        actor=actor,
        target_type="grant",
        target_id=grant.id,
        details={"team_id": str(team_id), "group_id": str(group_id), "level": level.value},
    )
    return grant


async def update(
    session: AsyncSession, actor: Principal, grant_id: uuid.UUID, level: GrantLevel
) -> Grant:
    grant = await get(session, grant_id, for_update=True)
    changed = changes_of(grant, {"level": level})
    await session.flush()
    if changed:
        await audit.record(
            session,
            "grant.update",
            actor=actor,
            target_type="grant",
            target_id=grant.id,
            details={
                "team_id": str(grant.team_id),
                "group_id": str(grant.group_id),
                "changes": changed,
            },
        )
    return grant


async def delete(session: AsyncSession, actor: Principal, grant_id: uuid.UUID) -> None:
    grant = await get(session, grant_id, for_update=True)
    details = {
        "team_id": str(grant.team_id),
        "group_id": str(grant.group_id),
        "level": grant.level.value,
    }
    await common_repo.delete(session, grant)
    await audit.record(
        session,
        "grant.delete",
        actor=actor,
        target_type="grant",
        target_id=grant_id,
        details=details,
    )
