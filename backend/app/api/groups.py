"""System groups and their systems. Everyone lists the groups they hold a grant on (admins and
auditors: all); admins create, change and fill them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, status

from app.api.deps import SessionDep
from app.api.systems import systems_page
from app.auth.dependencies import requires
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.models import SystemGroup
from app.schemas.common import Cursor, Deleted, Limit, NameSort, Page, Search, page_of
from app.schemas.groups import GroupCreate, GroupOut, GroupUpdate, SystemsAdd, SystemsAdded
from app.schemas.systems import SystemOut
from app.services import groups as groups_service
from app.services import systems as systems_service

router = APIRouter(prefix="/groups", tags=["groups"])

Reader = Annotated[Principal, requires(Permission.groups_read)]
Manager = Annotated[Principal, requires(Permission.groups_manage)]


def _out(group: SystemGroup, systems: int) -> GroupOut:
    return GroupOut.model_validate(group).model_copy(update={"system_count": systems})


async def _one(session: SessionDep, group: SystemGroup) -> GroupOut:
    counts = await groups_service.system_counts(session, [group])
    return _out(group, counts.get(group.id, 0))


@router.get("", response_model=Page[GroupOut], summary="List system groups")
async def list_groups(
    principal: Reader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: NameSort = "name",
    q: Search = None,
) -> Page[GroupOut]:
    """The groups the caller holds a grant on (every group for admins and auditors)."""
    page = await groups_service.search(
        session, principal, limit=limit, cursor=cursor, sort=sort, q=q
    )
    counts = await groups_service.system_counts(session, page.items)
    return page_of(GroupOut, page, [_out(g, counts.get(g.id, 0)) for g in page.items])


@router.post(
    "", response_model=GroupOut, status_code=status.HTTP_201_CREATED, summary="Create a group"
)
async def create_group(body: GroupCreate, actor: Manager, session: SessionDep) -> GroupOut:
    group = await groups_service.create(
        session, actor, name=body.name, description=body.description
    )
    return _out(group, 0)


@router.get("/{group_id}", response_model=GroupOut, summary="Get a group")
async def get_group(group_id: uuid.UUID, principal: Reader, session: SessionDep) -> GroupOut:
    return await _one(session, await groups_service.get(session, principal, group_id))


@router.patch("/{group_id}", response_model=GroupOut, summary="Change a group")
async def update_group(
    group_id: uuid.UUID, body: GroupUpdate, actor: Manager, session: SessionDep
) -> GroupOut:
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if k != "name" or v}
    return await _one(session, await groups_service.update(session, actor, group_id, changes))


@router.delete("/{group_id}", response_model=Deleted, summary="Delete a group")
async def delete_group(group_id: uuid.UUID, actor: Manager, session: SessionDep) -> Deleted:
    """Remove the group and the grants on it; its systems stay."""
    await groups_service.delete(session, actor, group_id)
    return Deleted()


@router.get("/{group_id}/systems", response_model=Page[SystemOut], summary="List a group's systems")
async def list_group_systems(
    group_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: NameSort = "name",
) -> Page[SystemOut]:
    await groups_service.get(session, principal, group_id)
    page = await systems_service.search(
        session, principal, limit=limit, cursor=cursor, sort=sort, group_id=group_id
    )
    return await systems_page(session, principal, page)


@router.post("/{group_id}/systems", response_model=SystemsAdded, summary="Add systems")
async def add_systems(
    group_id: uuid.UUID, body: SystemsAdd, actor: Manager, session: SessionDep
) -> SystemsAdded:
    """Put systems in the group; those already in it are left as they are. Every team
    granted on the group reaches them from the next request on."""
    added = await groups_service.add_systems(session, actor, group_id, body.system_ids)
    return SystemsAdded(added=added)


@router.delete("/{group_id}/systems/{system_id}", response_model=Deleted, summary="Remove a system")
async def remove_system(
    group_id: uuid.UUID, system_id: uuid.UUID, actor: Manager, session: SessionDep
) -> Deleted:
    await groups_service.remove_system(session, actor, group_id, system_id)
    return Deleted()
