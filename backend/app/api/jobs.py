"""Jobs: submit one, follow it, stop it, run it again."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import DispatcherDep, SessionDep, SettingsDep, VaultDep
from app.auth.dependencies import requires
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.core.config import Settings
from app.models import Execution, Job
from app.models.enums import ExecutionStatus, JobStatus
from app.schemas.common import NOT_A_NUMBER, Cursor, Limit, Page, Search
from app.schemas.jobs import (
    ExecutionError,
    ExecutionOut,
    FailureThresholdOut,
    JobCreate,
    JobDuplicate,
    JobOut,
    JobRerun,
    OutputInfo,
    RetriesOut,
    StateCounts,
    TargetPreview,
    Targets,
    Waiting,
)
from app.services import executions as executions_service
from app.services import jobs as jobs_service

router = APIRouter(prefix="/jobs", tags=["jobs"])

Reader = Annotated[Principal, requires(Permission.jobs_read)]
Runner = Annotated[Principal, requires(Permission.jobs_run)]


def _header_schema(schema: dict[str, Any]) -> None:
    """An optional header is absent or a string, never null: say so in the OpenAPI document
    (generated clients would otherwise offer to send `null`)."""
    choices = [choice for choice in schema.pop("anyOf", []) if choice.get("type") != "null"]
    if choices:
        schema.update(choices[0])


IdempotencyKey = Annotated[
    str | None,
    Header(
        json_schema_extra=_header_schema,
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Send the same key with the same body again (a retry after a timeout) and "
        "get the job the first request made, not a second job. The same key with another body "
        "is refused (409).",
    ),
]
JobSort = Annotated[
    Literal["created_at", "-created_at", "priority", "-priority", "name", "-name"],
    Query(description="Order of the list; a leading - reverses it."),
]
ExecutionSort = Annotated[
    Literal["position", "-position", "system_name", "-system_name", "finished_at"],
    Query(description="position: the order targets were given in."),
]


def job_out(job: Job, counts: dict[str, int]) -> JobOut:
    return JobOut(
        id=job.id,
        name=job.name,
        status=job.status,
        command=job.command,
        script=job.script,
        shell=job.shell,
        targets=job.targets,
        target_count=job.target_count,
        environment_keys=list(job.environment_keys),
        working_directory=job.working_directory,
        timeout_seconds=job.timeout_seconds,
        priority=job.priority,
        concurrency=job.concurrency,
        failure_threshold=FailureThresholdOut(
            count=job.failure_threshold_count, percent=job.failure_threshold_percent
        )
        if job.failure_threshold_count is not None or job.failure_threshold_percent is not None
        else None,
        retries=RetriesOut(attempts=job.max_attempts, backoff_seconds=job.retry_backoff_seconds)
        if job.max_attempts > 1
        else None,
        created_by_id=job.created_by_id,
        created_by_username=job.created_by_username,
        source_job_id=job.source_job_id,
        template_id=job.template_id,
        template_version=job.template_version,
        schedule_id=job.schedule_id,
        parameters=job.parameters,
        output_purged_at=job.output_purged_at,
        counts=StateCounts(**counts),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        cancel_requested_at=job.cancel_requested_at,
        threshold_reached_at=job.threshold_reached_at,
        updated_at=job.updated_at,
        seq=job.event_seq,
    )


def execution_out(
    execution: Execution, job: Job, waiting: executions_service.Waiting | None
) -> ExecutionOut:
    return ExecutionOut(
        id=execution.id,
        job_id=execution.job_id,
        system_id=execution.system_id,
        system_name=execution.system_name,
        connector=execution.connector,
        position=execution.position,
        status=execution.status,
        waiting=Waiting.model_validate({"code": waiting.code, "message": waiting.message})
        if waiting
        else None,
        attempt=execution.attempt + 1,
        max_attempts=job.max_attempts,
        worker_id=execution.worker_id,
        exit_code=execution.exit_code,
        signal=execution.signal,
        error=ExecutionError(
            code=execution.error_code,
            reason=execution.error_reason,
            message=execution.error_message,
        )
        if execution.error_code
        else None,
        output=OutputInfo(
            seq=execution.output_seq,
            bytes=execution.output_bytes,
            dropped_bytes=execution.output_dropped_bytes,
            truncated=execution.output_truncated,
            purged_at=execution.output_purged_at,
        ),
        cancel_requested_at=execution.cancel_requested_at,
        not_before=execution.not_before,
        created_at=execution.created_at,
        queued_at=execution.queued_at,
        started_at=execution.started_at,
        finished_at=execution.finished_at,
        duration_ms=executions_service.duration_ms(execution),
        version=execution.version,
    )


async def executions_out(
    session: AsyncSession,
    settings: Settings,
    executions: list[Execution],
    jobs: dict[uuid.UUID, Job],
) -> list[ExecutionOut]:
    reasons = await executions_service.waiting_reasons(session, settings, executions, jobs)
    return [
        execution_out(execution, jobs[execution.job_id], reasons.get(execution.id))
        for execution in executions
    ]


async def _one(session: AsyncSession, job: Job) -> JobOut:
    return job_out(job, (await jobs_service.counts(session, [job]))[job.id])


@router.post(
    "",
    response_model=JobOut,
    status_code=status.HTTP_201_CREATED,
    summary="Submit a job",
    responses={200: {"description": "The job an earlier request with this Idempotency-Key made."}},
)
async def create_job(
    body: JobCreate,
    principal: Runner,
    session: SessionDep,
    dispatcher: DispatcherDep,
    vault: VaultDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    """Resolve the targets now (the list is stored), check the caller holds `execute` on every
    one (else 403 naming those beyond reach), and start one execution per system as workers,
    the job's concurrency and each system's limit allow."""
    submitted = await jobs_service.submit(
        session, dispatcher, vault, principal, body, idempotency_key
    )
    if not submitted.created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return await _one(session, submitted.job)


@router.post("/targets/preview", response_model=TargetPreview, summary="Preview targets")
async def preview_targets(
    body: Targets, principal: Runner, session: SessionDep, settings: SettingsDep
) -> TargetPreview:
    """The systems these targets match now (the first 100, and how many in all, by kind), and
    those among them you may not run a job on. Nothing is stored; a job form calls this as
    the targets are edited."""
    return await jobs_service.preview_targets(session, principal, body, settings.job_max_targets)


@router.get("", response_model=Page[JobOut], summary="List jobs")
async def list_jobs(
    principal: Reader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: JobSort = "-created_at",
    q: Search = None,
    job_status: Annotated[
        list[JobStatus] | None, Query(alias="status", description="Repeat for several.")
    ] = None,
    created_by: uuid.UUID | None = None,
    system_id: Annotated[
        uuid.UUID | None, Query(description="Jobs with an execution on this system.")
    ] = None,
    since: Annotated[
        datetime | None, NOT_A_NUMBER, Query(description="Created at or after.")
    ] = None,
    until: Annotated[datetime | None, NOT_A_NUMBER, Query(description="Created before.")] = None,
    template_id: Annotated[
        uuid.UUID | None, Query(description="Jobs launched from this template.")
    ] = None,
    schedule_id: Annotated[
        uuid.UUID | None, Query(description="Jobs launched by this schedule.")
    ] = None,
) -> Page[JobOut]:
    """The jobs the caller may see: their own, and those touching a system they can view (all
    of them for admins and auditors). `q` looks in the name and the command or script."""
    page = await jobs_service.search(
        session,
        principal,
        limit=limit,
        cursor=cursor,
        sort=sort,
        status=job_status,
        created_by_id=created_by,
        system_id=system_id,
        since=since,
        until=until,
        q=q,
        template_id=template_id,
        schedule_id=schedule_id,
    )
    counts = await jobs_service.counts(session, page.items)
    return Page[JobOut](
        items=[job_out(job, counts[job.id]) for job in page.items],
        next_cursor=page.next_cursor,
        total=page.total,
    )


@router.get("/{job_id}", response_model=JobOut, summary="Get a job")
async def get_job(job_id: uuid.UUID, principal: Reader, session: SessionDep) -> JobOut:
    """The job with how many of its executions are in each state."""
    return await _one(session, await jobs_service.get(session, principal, job_id))


@router.get(
    "/{job_id}/executions", response_model=Page[ExecutionOut], summary="List a job's executions"
)
async def list_executions(
    job_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    settings: SettingsDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    sort: ExecutionSort = "position",
    q: Annotated[Search, Query(description="Part of the system's name.")] = None,
    execution_status: Annotated[
        list[ExecutionStatus] | None, Query(alias="status", description="Repeat for several.")
    ] = None,
) -> Page[ExecutionOut]:
    """One row per system. Each one not yet running says why in `waiting`: no worker, all
    worker slots busy, the job's concurrency, the system's limit, or a retry's backoff."""
    job, page = await jobs_service.executions(
        session,
        principal,
        job_id,
        limit=limit,
        cursor=cursor,
        sort=sort,
        status=execution_status,
        q=q,
    )
    return Page[ExecutionOut](
        items=await executions_out(session, settings, page.items, {job.id: job}),
        next_cursor=page.next_cursor,
        total=page.total,
    )


@router.post("/{job_id}/cancel", response_model=JobOut, summary="Cancel a job")
async def cancel_job(
    job_id: uuid.UUID, principal: Runner, session: SessionDep, dispatcher: DispatcherDep
) -> JobOut:
    """Executions not started are cancelled at once; running ones have their command stopped
    on the host (TERM, then KILL) and end as `cancelled`. The author, or someone with
    `execute` on all its systems, may cancel a job."""
    job = await jobs_service.cancel_job(session, dispatcher, principal, job_id)
    return await _one(session, job)


@router.post(
    "/{job_id}/rerun",
    response_model=JobOut,
    status_code=status.HTTP_201_CREATED,
    summary="Run a job again",
)
async def rerun_job(
    job_id: uuid.UUID,
    principal: Runner,
    session: SessionDep,
    dispatcher: DispatcherDep,
    body: JobRerun | None = None,
) -> JobOut:
    """A new job with the same command and options on the same systems: all of them, only the
    failed ones (the default), or every one that did not succeed."""
    job = await jobs_service.rerun(
        session, dispatcher, principal, job_id, (body or JobRerun()).only
    )
    return await _one(session, job)


@router.post(
    "/{job_id}/duplicate",
    response_model=JobOut,
    status_code=status.HTTP_201_CREATED,
    summary="Duplicate a job",
)
async def duplicate_job(
    job_id: uuid.UUID,
    principal: Runner,
    session: SessionDep,
    dispatcher: DispatcherDep,
    body: JobDuplicate | None = None,
) -> JobOut:
    """A new job like this one, with its targets resolved again (or the ones given) and any
    of name, timeout, priority and concurrency overridden."""
    job = await jobs_service.duplicate(
        session, dispatcher, principal, job_id, body or JobDuplicate()
    )
    return await _one(session, job)
