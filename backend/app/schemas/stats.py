"""The dashboard's numbers: what ran, how it ended, and how the fleet is doing."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class TimelineBucket(BaseModel):
    start: datetime
    counts: dict[str, int] = Field(
        description="Executions created in this bucket, by their status now (absent: zero)."
    )


class Overview(BaseModel):
    """Counts over what the caller may see."""

    since: datetime
    until: datetime
    bucket_seconds: int
    executions: dict[str, int] = Field(
        description="Executions created in the window, by status (every status present)."
    )
    timeline: list[TimelineBucket] = Field(
        description="The window cut into buckets, oldest first, every bucket present."
    )
    jobs: dict[str, int] = Field(
        description="Jobs created in the window, by status (every status present)."
    )
    active_jobs: int = Field(description="Jobs pending or running now, however old.")
    systems: dict[str, int] = Field(description="Systems by health status (every status present).")
