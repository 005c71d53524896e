"""Job templates: save a job with typed parameters, share it with teams, launch it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import DispatcherDep, SessionDep, VaultDep
from app.api.jobs import IdempotencyKey, job_out
from app.auth.dependencies import requires
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.models import JobTemplate
from app.schemas.common import Cursor, Deleted, Limit, Page, Search
from app.schemas.jobs import FailureThresholdOut, JobOut, RetriesOut
from app.schemas.templates import (
    Parameter,
    TemplateAccessOut,
    TemplateCreate,
    TemplateLaunch,
    TemplateOut,
    TemplateUpdate,
)
from app.services import jobs as jobs_service
from app.services import templates as templates_service

router = APIRouter(prefix="/templates", tags=["templates"])

Reader = Annotated[Principal, requires(Permission.templates_read)]
Editor = Annotated[Principal, requires(Permission.templates_edit)]
Launcher = Annotated[Principal, requires(Permission.templates_launch)]
TemplateSort = Annotated[
    Literal["name", "-name", "created_at", "-created_at"],
    Query(description="Order of the list; a leading - reverses it."),
]


async def templates_out(
    session: AsyncSession, principal: Principal, templates: Sequence[JobTemplate]
) -> list[TemplateOut]:
    rights = await templates_service.rights_of(session, principal, templates)
    grants = await templates_service.grants_of(session, templates)
    return [
        TemplateOut(
            id=template.id,
            name=template.name,
            description=template.description,
            command=template.command,
            script=template.script,
            shell=template.shell,
            targets=template.targets,
            parameters=[Parameter.model_validate(each) for each in template.parameters],
            environment_keys=list(template.environment_keys),
            working_directory=template.working_directory,
            timeout_seconds=template.timeout_seconds,
            priority=template.priority,
            concurrency=template.concurrency,
            failure_threshold=FailureThresholdOut(
                count=template.failure_threshold_count,
                percent=template.failure_threshold_percent,
            )
            if template.failure_threshold_count is not None
            or template.failure_threshold_percent is not None
            else None,
            retries=RetriesOut(
                attempts=template.max_attempts, backoff_seconds=template.retry_backoff_seconds
            )
            if template.max_attempts > 1
            else None,
            access=[
                TemplateAccessOut(team_id=team_id, team_name=team_name, level=level)
                for team_id, team_name, level in grants.get(template.id, [])
            ],
            created_by_id=template.created_by_id,
            created_by_username=template.created_by_username,
            version=template.version,
            created_at=template.created_at,
            updated_at=template.updated_at,
            can_edit=rights[template.id].can_edit,
            can_launch=rights[template.id].can_launch,
        )
        for template in templates
    ]


async def _one(session: AsyncSession, principal: Principal, template: JobTemplate) -> TemplateOut:
    return (await templates_out(session, principal, [template]))[0]


@router.get("", response_model=Page[TemplateOut], summary="List job templates")
async def list_templates(
    principal: Reader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: TemplateSort = "name",
    q: Search = None,
) -> Page[TemplateOut]:
    """The templates the caller may see: their own and those granted to one of their teams
    (all of them for admins and auditors). `q` looks in the name and description."""
    page = await templates_service.search(
        session, principal, limit=limit, cursor=cursor, sort=sort, q=q
    )
    return Page[TemplateOut](
        items=await templates_out(session, principal, page.items),
        next_cursor=page.next_cursor,
        total=page.total,
    )


@router.post(
    "",
    response_model=TemplateOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a job template",
)
async def create_template(
    body: TemplateCreate,
    principal: Editor,
    session: SessionDep,
    dispatcher: DispatcherDep,
    vault: VaultDep,
) -> TemplateOut:
    """Save a job to launch later. Its targets must match systems the caller holds `execute`
    on; every `{{ name }}` in the command must name a parameter that can be placed there."""
    template = await templates_service.create(session, dispatcher, vault, principal, body)
    return await _one(session, principal, template)


@router.get("/{template_id}", response_model=TemplateOut, summary="Get a job template")
async def get_template(
    template_id: uuid.UUID, principal: Reader, session: SessionDep
) -> TemplateOut:
    template, _ = await templates_service.get(session, principal, template_id)
    return await _one(session, principal, template)


@router.patch("/{template_id}", response_model=TemplateOut, summary="Change a job template")
async def update_template(
    template_id: uuid.UUID,
    body: TemplateUpdate,
    principal: Editor,
    session: SessionDep,
    dispatcher: DispatcherDep,
    vault: VaultDep,
) -> TemplateOut:
    """Change what is given (null clears an optional field); the version goes up by one. The
    caller needs `edit` on the template and `execute` on every system it then targets."""
    template = await templates_service.update(
        session, dispatcher, vault, principal, template_id, body
    )
    return await _one(session, principal, template)


@router.delete("/{template_id}", response_model=Deleted, summary="Delete a job template")
async def delete_template(
    template_id: uuid.UUID, principal: Editor, session: SessionDep
) -> Deleted:
    """Delete it (refused while schedules use it). Jobs launched from it stay."""
    await templates_service.delete(session, principal, template_id)
    return Deleted()


@router.post(
    "/{template_id}/launch",
    response_model=JobOut,
    status_code=status.HTTP_201_CREATED,
    summary="Launch a job template",
    responses={200: {"description": "The job an earlier request with this Idempotency-Key made."}},
)
async def launch_template(
    template_id: uuid.UUID,
    body: TemplateLaunch,
    principal: Launcher,
    session: SessionDep,
    dispatcher: DispatcherDep,
    vault: VaultDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    """Submit the template as a job by the caller, its parameters filled in (each checked
    against its type). Like any job it needs `execute` on every system the targets match now.
    Audited as `template.launch` with the values (secret ones by name only)."""
    submitted = await templates_service.launch(
        session, dispatcher, vault, principal, template_id, body, idempotency_key=idempotency_key
    )
    if not submitted.created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    counts = await jobs_service.counts(session, [submitted.job])
    return job_out(submitted.job, counts[submitted.job.id])
