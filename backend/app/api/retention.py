"""Retention of output and finished jobs: the policy in force and a dry run of it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from app.api.deps import SessionDep, SettingsDep
from app.auth.dependencies import requires
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.schemas.retention import RetentionReport
from app.services import retention as retention_service

router = APIRouter(prefix="/retention", tags=["retention"])

Reader = Annotated[Principal, requires(Permission.retention_read)]


@router.get("", response_model=RetentionReport, summary="Retention policy and dry run")
async def retention_report(
    _: Reader, session: SessionDep, settings: SettingsDep
) -> RetentionReport:
    """The retention settings, and what the hourly run would remove if it ran now: how many
    executions' output (and bytes), and how many finished jobs with their executions. Nothing
    is changed. The audit log is never removed by retention."""
    policy = retention_service.Policy.from_settings(settings)
    report = await retention_service.dry_run(session, policy)
    return RetentionReport(
        output_days=report.output_days,
        jobs_days=report.jobs_days,
        output_before=report.output_before,
        jobs_before=report.jobs_before,
        executions_output_removed=report.executions_output_removed,
        output_bytes_removed=report.output_bytes_removed,
        jobs_removed=report.jobs_removed,
        executions_removed=report.executions_removed,
        schedule_runs_removed=report.schedule_runs_removed,
        oldest_job_finished_at=report.oldest_job_finished_at,
    )
