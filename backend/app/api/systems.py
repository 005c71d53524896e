"""Systems, as far as the caller may see them. (Create, change and connect arrive with the
connector work; this is the read side the grants already govern.)"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import SessionDep
from app.auth.dependencies import requires
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.core.errors import BadRequest
from app.models import System
from app.models.enums import HealthStatus, SystemKind
from app.repositories.pagination import Page as PageData
from app.schemas.common import Cursor, Limit, NameSort, Page, Search, page_of
from app.schemas.systems import SystemOut
from app.services import systems as systems_service

router = APIRouter(prefix="/systems", tags=["systems"])

Reader = Annotated[Principal, requires(Permission.systems_read)]


def _labels(selectors: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for selector in selectors:
        key, sep, value = selector.partition("=")
        if not sep or not key.strip():
            raise BadRequest(
                f"label: {json.dumps(selector)} is not key=value",
                details=[{"field": "label", "message": "expected key=value"}],
            )
        labels[key.strip()] = value.strip()
    return labels


def _out(system: System, groups: dict[uuid.UUID, list[uuid.UUID]]) -> SystemOut:
    return SystemOut.model_validate(system).model_copy(
        update={"group_ids": groups.get(system.id, [])}
    )


async def systems_page(
    session: AsyncSession, principal: Principal, page: PageData[Any]
) -> Page[SystemOut]:
    groups = await systems_service.groups_of(session, principal, page.items)
    return page_of(SystemOut, page, [_out(system, groups) for system in page.items])


@router.get("", response_model=Page[SystemOut], summary="List systems")
async def list_systems(
    principal: Reader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: NameSort = "name",
    q: Search = None,
    kind: SystemKind | None = None,
    health: HealthStatus | None = None,
    group_id: uuid.UUID | None = None,
    label: Annotated[
        list[str] | None,
        Query(max_length=20, description="key=value; repeat to require several labels."),
    ] = None,
) -> Page[SystemOut]:
    """The systems the caller may see (through a grant on one of their groups; every system
    for admins and auditors), matching every given filter."""
    page = await systems_service.search(
        session,
        principal,
        limit=limit,
        cursor=cursor,
        sort=sort,
        q=q,
        kind=kind,
        health=health,
        group_id=group_id,
        labels=_labels(label or []),
    )
    return await systems_page(session, principal, page)


@router.get("/{system_id}", response_model=SystemOut, summary="Get a system")
async def get_system(system_id: uuid.UUID, principal: Reader, session: SessionDep) -> SystemOut:
    system = await systems_service.get(session, principal, system_id)
    return _out(system, await systems_service.groups_of(session, principal, [system]))
