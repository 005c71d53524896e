"""Schedules and their run history, as the API takes and shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool, StrictInt, StringConstraints, field_validator
from pydantic.json_schema import SkipJsonSchema

from app.models.enums import MissedRunPolicy, ScheduleRunStatus
from app.schemas.common import NO_NUL, refuse_null
from app.schemas.jobs import JobName, Reference
from app.schemas.templates import MAX_PARAMETERS, ParameterValue, TemplateDescription

CronText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL),
]
TimeZoneName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=NO_NUL),
]
Grace = Annotated[StrictInt, Field(ge=10, le=7 * 86400)]

_CRON_HELP = (
    "Five fields (minute hour day-of-month month day-of-week, as in crontab: `0 3 * * 1-5`), "
    "or @hourly, @daily, @weekly, @monthly, @yearly."
)
_POLICY_HELP = (
    "A due time that passed more than `grace_seconds` ago (no worker was running) is late. "
    "skip: record it as missed, run nothing. run_once: record the late ones as missed but run "
    "once now for the latest."
)


class ScheduleCreate(BaseModel):
    model_config = {"extra": "forbid"}

    name: JobName
    description: TemplateDescription | None = None
    template: Reference = Field(description="The template it launches: id or name.")
    cron: CronText = Field(description=_CRON_HELP, examples=["0 3 * * 1-5"])
    timezone: TimeZoneName = Field(
        "UTC", description="IANA time zone the cron fields are read in (Europe/Berlin)."
    )
    enabled: StrictBool = True
    parameters: dict[str, ParameterValue] = Field(
        default_factory=dict,
        max_length=MAX_PARAMETERS,
        description="Values for the template's parameters (secret ones are stored encrypted).",
    )
    missed_policy: MissedRunPolicy = Field(MissedRunPolicy.skip, description=_POLICY_HELP)
    grace_seconds: Grace = 300
    skip_if_running: StrictBool = Field(
        True, description="Skip a due time while the job this schedule launched last still runs."
    )


class ScheduleUpdate(BaseModel):
    """Only what is given changes. A change to what runs (template, parameters) or when
    (cron, time zone) makes the caller the schedule's owner: it runs as them from then on.
    `parameters` replaces the values, except that a secret one left out keeps its stored
    value (secrets are never shown, so nobody could send them back)."""

    model_config = {"extra": "forbid"}

    name: JobName | SkipJsonSchema[None] = None
    description: TemplateDescription | None = None
    template: Reference | SkipJsonSchema[None] = None
    cron: CronText | SkipJsonSchema[None] = None
    timezone: TimeZoneName | SkipJsonSchema[None] = None
    enabled: StrictBool | SkipJsonSchema[None] = None
    parameters: (
        Annotated[dict[str, ParameterValue], Field(max_length=MAX_PARAMETERS)]
        | SkipJsonSchema[None]
    ) = None
    missed_policy: MissedRunPolicy | SkipJsonSchema[None] = None
    grace_seconds: Grace | SkipJsonSchema[None] = None
    skip_if_running: StrictBool | SkipJsonSchema[None] = None

    @field_validator(
        "name",
        "template",
        "cron",
        "timezone",
        "enabled",
        "parameters",
        "missed_policy",
        "grace_seconds",
        "skip_if_running",
        mode="before",
    )
    @classmethod
    def _omit_rather_than_null(cls, value: object) -> object:
        return refuse_null(value)


class CronPreview(BaseModel):
    model_config = {"extra": "forbid"}

    cron: CronText = Field(description=_CRON_HELP)
    timezone: TimeZoneName = "UTC"
    count: StrictInt = Field(5, ge=1, le=50)


class CronPreviewOut(BaseModel):
    next_runs: list[datetime] = Field(description="The next due times, in UTC.")


class LastRun(BaseModel):
    due_at: datetime
    status: ScheduleRunStatus
    job_id: uuid.UUID | None
    message: str | None


class ScheduleOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    template_id: uuid.UUID
    template_name: str
    cron: str
    timezone: str
    enabled: bool
    parameters: dict[str, object] = Field(description="Values given (secret ones left out).")
    secret_parameters: list[str] = Field(description="Secret parameters given a value.")
    missed_policy: MissedRunPolicy
    grace_seconds: int
    skip_if_running: bool
    next_run_at: datetime | None = Field(description="The next due time (null while disabled).")
    next_runs: list[datetime] = Field(description="The next five due times (none if disabled).")
    last_run: LastRun | None
    owner_id: uuid.UUID | None
    owner_username: str | None
    created_at: datetime
    updated_at: datetime
    can_manage: bool = Field(description="Whether the caller may change, pause or delete it.")


class ScheduleRunOut(BaseModel):
    model_config = {"from_attributes": True}

    id: uuid.UUID
    schedule_id: uuid.UUID
    due_at: datetime
    status: ScheduleRunStatus
    job_id: uuid.UUID | None
    message: str | None
    created_at: datetime = Field(description="When it was dispatched (or found missed).")
