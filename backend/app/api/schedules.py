"""Schedules: launch a job template at cron due times, and what became of each due time."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import DispatcherDep, SessionDep, VaultDep
from app.auth.dependencies import requires
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.core.vault import Vault
from app.models import Schedule
from app.models.enums import ScheduleRunStatus
from app.schemas.common import Cursor, Deleted, Limit, Page, Search, page_of
from app.schemas.schedules import (
    CronPreview,
    CronPreviewOut,
    LastRun,
    ScheduleCreate,
    ScheduleOut,
    ScheduleRunOut,
    ScheduleUpdate,
)
from app.services import schedules as schedules_service

router = APIRouter(prefix="/schedules", tags=["schedules"])

Reader = Annotated[Principal, requires(Permission.schedules_read)]
Manager = Annotated[Principal, requires(Permission.schedules_manage)]
ScheduleSort = Annotated[
    Literal["name", "-name", "created_at", "-created_at"],
    Query(description="Order of the list; a leading - reverses it."),
]


async def schedules_out(
    session: AsyncSession, principal: Principal, vault: Vault, schedules: Sequence[Schedule]
) -> list[ScheduleOut]:
    last = await schedules_service.last_runs(session, schedules)
    names = await schedules_service.template_names(session, schedules)
    manageable = await schedules_service.manageable(session, principal, schedules)
    out = []
    for schedule in schedules:
        run = last.get(schedule.id)
        out.append(
            ScheduleOut(
                id=schedule.id,
                name=schedule.name,
                description=schedule.description,
                template_id=schedule.template_id,
                template_name=names.get(schedule.template_id, ""),
                cron=schedule.cron,
                timezone=schedule.timezone,
                enabled=schedule.enabled,
                parameters=schedule.parameters,
                secret_parameters=schedules_service.secret_names(schedule, vault),
                missed_policy=schedule.missed_policy,
                grace_seconds=schedule.grace_seconds,
                skip_if_running=schedule.skip_if_running,
                next_run_at=schedule.next_run_at,
                next_runs=schedules_service.next_runs(schedule),
                last_run=LastRun(
                    due_at=run.due_at, status=run.status, job_id=run.job_id, message=run.message
                )
                if run
                else None,
                owner_id=schedule.owner_id,
                owner_username=schedule.owner_username,
                created_at=schedule.created_at,
                updated_at=schedule.updated_at,
                can_manage=schedule.id in manageable,
            )
        )
    return out


async def _one(
    session: AsyncSession, principal: Principal, vault: Vault, schedule: Schedule
) -> ScheduleOut:
    return (await schedules_out(session, principal, vault, [schedule]))[0]


@router.get("", response_model=Page[ScheduleOut], summary="List schedules")
async def list_schedules(
    principal: Reader,
    session: SessionDep,
    vault: VaultDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: ScheduleSort = "name",
    q: Search = None,
    template_id: uuid.UUID | None = None,
    enabled: bool | None = None,
) -> Page[ScheduleOut]:
    """The schedules of the templates the caller may see."""
    page = await schedules_service.search(
        session,
        principal,
        limit=limit,
        cursor=cursor,
        sort=sort,
        q=q,
        template_id=template_id,
        enabled=enabled,
    )
    return Page[ScheduleOut](
        items=await schedules_out(session, principal, vault, page.items),
        next_cursor=page.next_cursor,
        total=page.total,
    )


@router.post(
    "", response_model=ScheduleOut, status_code=status.HTTP_201_CREATED, summary="Create a schedule"
)
async def create_schedule(
    body: ScheduleCreate,
    principal: Manager,
    session: SessionDep,
    dispatcher: DispatcherDep,
    vault: VaultDep,
) -> ScheduleOut:
    """Launch a template at the due times of a cron expression, as the caller (who must be able
    to launch it; at each due time their rights then decide). Parameter values are checked
    against the template now."""
    schedule = await schedules_service.create(session, dispatcher, vault, principal, body)
    return await _one(session, principal, vault, schedule)


@router.post("/preview", response_model=CronPreviewOut, summary="Preview a cron expression")
async def preview_cron(body: CronPreview, _: Reader) -> CronPreviewOut:
    """The next due times of an expression in a time zone, for a form to show as it is typed."""
    cron = schedules_service.Cron.parse(body.cron, body.timezone)
    return CronPreviewOut(next_runs=cron.upcoming(datetime.now(UTC), body.count))


@router.get("/{schedule_id}", response_model=ScheduleOut, summary="Get a schedule")
async def get_schedule(
    schedule_id: uuid.UUID, principal: Reader, session: SessionDep, vault: VaultDep
) -> ScheduleOut:
    schedule = await schedules_service.get(session, principal, schedule_id)
    return await _one(session, principal, vault, schedule)


@router.patch("/{schedule_id}", response_model=ScheduleOut, summary="Change a schedule")
async def update_schedule(
    schedule_id: uuid.UUID,
    body: ScheduleUpdate,
    principal: Manager,
    session: SessionDep,
    dispatcher: DispatcherDep,
    vault: VaultDep,
) -> ScheduleOut:
    """Change what is given; `{"enabled": false}` pauses it and `true` resumes it from the
    next due time (the paused ones are not caught up). Changing the template, parameters, cron
    or time zone makes the caller its owner."""
    schedule = await schedules_service.update(
        session, dispatcher, vault, principal, schedule_id, body
    )
    return await _one(session, principal, vault, schedule)


@router.delete("/{schedule_id}", response_model=Deleted, summary="Delete a schedule")
async def delete_schedule(
    schedule_id: uuid.UUID, principal: Manager, session: SessionDep
) -> Deleted:
    """Delete it and its history; the jobs it launched stay."""
    await schedules_service.delete(session, principal, schedule_id)
    return Deleted()


@router.get(
    "/{schedule_id}/runs", response_model=Page[ScheduleRunOut], summary="List a schedule's runs"
)
async def list_runs(
    schedule_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        Literal["-due_at", "due_at"], Query(description="Newest due time first, or oldest.")
    ] = "-due_at",
    run_status: Annotated[
        list[ScheduleRunStatus] | None, Query(alias="status", description="Repeat for several.")
    ] = None,
) -> Page[ScheduleRunOut]:
    """Each due time, newest first: launched (with its job), missed, skipped or failed (why)."""
    page = await schedules_service.runs(
        session, principal, schedule_id, limit=limit, cursor=cursor, sort=sort, status=run_status
    )
    return page_of(ScheduleRunOut, page)
