"""Grants: a team's level on a system group (admins manage, auditors read)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, status

from app.api.deps import SessionDep
from app.auth.dependencies import requires
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.models.enums import GrantLevel
from app.schemas.common import CreatedSort, Cursor, Deleted, Limit, Page, page_of
from app.schemas.grants import GrantCreate, GrantOut, GrantUpdate
from app.services import grants as grants_service

router = APIRouter(prefix="/grants", tags=["grants"])

Reader = Annotated[Principal, requires(Permission.grants_read)]
Manager = Annotated[Principal, requires(Permission.grants_manage)]


@router.get("", response_model=Page[GrantOut], summary="List grants")
async def list_grants(
    _: Reader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: CreatedSort = "created_at",
    team_id: uuid.UUID | None = None,
    group_id: uuid.UUID | None = None,
    level: GrantLevel | None = None,
) -> Page[GrantOut]:
    page = await grants_service.search(
        session,
        limit=limit,
        cursor=cursor,
        sort=sort,
        team_id=team_id,
        group_id=group_id,
        level=level,
    )
    return page_of(GrantOut, page)


@router.post(
    "", response_model=GrantOut, status_code=status.HTTP_201_CREATED, summary="Grant access"
)
async def create_grant(body: GrantCreate, actor: Manager, session: SessionDep) -> GrantOut:
    """Give a team a level on a group: view < execute < manage. One grant per team and group
    (409 names the existing one)."""
    grant = await grants_service.create(
        session, actor, team_id=body.team_id, group_id=body.group_id, level=body.level
    )
    return GrantOut.model_validate(grant)


@router.get("/{grant_id}", response_model=GrantOut, summary="Get a grant")
async def get_grant(grant_id: uuid.UUID, _: Reader, session: SessionDep) -> GrantOut:
    return GrantOut.model_validate(await grants_service.get(session, grant_id))


@router.patch("/{grant_id}", response_model=GrantOut, summary="Change a grant's level")
async def update_grant(
    grant_id: uuid.UUID, body: GrantUpdate, actor: Manager, session: SessionDep
) -> GrantOut:
    return GrantOut.model_validate(
        await grants_service.update(session, actor, grant_id, body.level)
    )


@router.delete("/{grant_id}", response_model=Deleted, summary="Revoke a grant")
async def delete_grant(grant_id: uuid.UUID, actor: Manager, session: SessionDep) -> Deleted:
    await grants_service.delete(session, actor, grant_id)
    return Deleted()
