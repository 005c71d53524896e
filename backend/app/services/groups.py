"""System groups: the unit of access. A team granted a level on a group holds it on every
system in the group."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core.errors import NotFound
from app.models import System, SystemGroup, SystemGroupMember
from app.models.enums import GrantLevel
from app.repositories import common as common_repo
from app.repositories import grants as grants_repo
from app.repositories import groups as groups_repo
from app.repositories.pagination import Page, keyset_page, name_sorts
from app.services import access, audit
from app.services.common import (
    changes_of,
    get_or_404,
    require_existing,
    require_unique_name,
)

SORTS = name_sorts(SystemGroup)


async def get(
    session: AsyncSession, principal: Principal, group_id: uuid.UUID, *, for_update: bool = False
) -> SystemGroup:
    """The group, if the principal may see it; otherwise 404, as if it did not exist."""
    group = await get_or_404(session, SystemGroup, group_id, "group", for_update=for_update)
    if await access.group_level(session, principal, group.id) is None:
        raise NotFound(f"no group with id {group_id}")
    return group


async def search(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    sort: str,
    q: str | None = None,
) -> Page[SystemGroup]:
    stmt = groups_repo.search(visible=access.groups_filter(principal, GrantLevel.view), q=q)
    return await keyset_page(session, stmt, SORTS[sort], limit=limit, cursor=cursor)


async def system_counts(session: AsyncSession, groups: list[SystemGroup]) -> dict[uuid.UUID, int]:
    return await groups_repo.system_counts(session, [group.id for group in groups])


async def create(
    session: AsyncSession, actor: Principal, *, name: str, description: str | None
) -> SystemGroup:
    await require_unique_name(session, SystemGroup, name, "group")
    group = await common_repo.add(session, SystemGroup(name=name, description=description))
    await audit.record(
        session,
        "group.create",
        actor=actor,
        target_type="group",
        target_id=group.id,
        details={"name": name},
    )
    return group


async def update(
    session: AsyncSession, actor: Principal, group_id: uuid.UUID, changes: dict[str, Any]
) -> SystemGroup:
    group = await get(session, actor, group_id, for_update=True)
    if "name" in changes:
        await require_unique_name(session, SystemGroup, changes["name"], "group", group.id)
    changed = changes_of(group, changes)
    await session.flush()
    await audit.record_update(session, actor, "group", group, changed)
    return group


async def delete(session: AsyncSession, actor: Principal, group_id: uuid.UUID) -> None:
    """Remove a group, its memberships and the grants on it (the systems stay)."""
    group = await get(session, actor, group_id, for_update=True)
    details = {
        "name": group.name,
        "grants": await grants_repo.listed(session, group_id=group.id),
        "systems": (await groups_repo.system_counts(session, [group.id])).get(group.id, 0),
    }
    await common_repo.delete(session, group)
    await audit.record(
        session,
        "group.delete",
        actor=actor,
        target_type="group",
        target_id=group_id,
        details=details,
    )


async def add_systems(
    session: AsyncSession, actor: Principal, group_id: uuid.UUID, system_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """Put systems in the group; returns those that were not in it yet."""
    group = await get(session, actor, group_id, for_update=True)
    wanted = await require_existing(session, System, system_ids, "system_ids", "system")
    added = await common_repo.add_links(
        session, SystemGroupMember, ("group_id", group.id), "system_id", wanted
    )
    if added:
        await audit.record(
            session,
            "group.system_add",
            actor=actor,
            target_type="group",
            target_id=group.id,
            details={"group": group.name, "system_ids": [str(s) for s in added]},
        )
    return added


async def remove_system(
    session: AsyncSession, actor: Principal, group_id: uuid.UUID, system_id: uuid.UUID
) -> None:
    group = await get(session, actor, group_id, for_update=True)
    if not await common_repo.remove_link(
        session, SystemGroupMember, ("group_id", group.id), ("system_id", system_id)
    ):
        raise NotFound(f"system {system_id} is not in group {group.name!r}")
    await audit.record(
        session,
        "group.system_remove",
        actor=actor,
        target_type="group",
        target_id=group.id,
        details={"group": group.name, "system_id": str(system_id)},
    )
