"""Retention's policy and report, as the API shows them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class RetentionReport(BaseModel):
    """What retention would remove if it ran now (nothing is changed to answer this)."""

    output_days: int = Field(description="ORCA_RETENTION_OUTPUT_DAYS (0: kept with the job).")
    jobs_days: int = Field(description="ORCA_RETENTION_JOBS_DAYS (0: kept for ever).")
    output_before: datetime | None = Field(
        description="Output of jobs finished before this would be removed."
    )
    jobs_before: datetime | None = Field(description="Jobs finished before this would go.")
    executions_output_removed: int
    output_bytes_removed: int
    jobs_removed: int
    executions_removed: int
    schedule_runs_removed: int
    oldest_job_finished_at: datetime | None
    audit_log: str = Field(
        "kept: append-only, never removed by retention",
        description="The audit log follows its own policy.",
    )
