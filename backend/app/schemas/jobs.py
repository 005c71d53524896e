"""Jobs, executions and output as the API takes and shows them."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from app.models.enums import ExecutionStatus, JobStatus, OutputStream, Shell
from app.schemas.common import NO_NUL, refuse_null

# A command or script travels to the host as one argument of a shell (`sh -c`), and Linux
# takes at most 128 KiB in one argument: keep well inside it, with room for the environment.
MAX_COMMAND_BYTES = 96 * 1024
MAX_ENV_VARS = 100
MAX_ENV_VALUE = 4096
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$")


def _command_size(value: str) -> str:
    size = len(value.encode())
    if size > MAX_COMMAND_BYTES:
        raise ValueError(f"at most {MAX_COMMAND_BYTES} bytes (this is {size})")
    return value


def _environment(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_ENV_VARS:
        raise ValueError(f"at most {MAX_ENV_VARS} variables")
    for name, text in value.items():
        if not _ENV_NAME.match(name):
            raise ValueError(
                f"{name!r} is not a variable name (letters, digits and _, not starting "
                "with a digit)"
            )
        if len(text) > MAX_ENV_VALUE or "\x00" in text:
            raise ValueError(f"{name}: at most {MAX_ENV_VALUE} characters, no NUL")
    return value


def _selector(value: dict[str, str]) -> dict[str, str]:
    if not value:
        raise ValueError("a label selector needs at least one key")
    for key, text in value.items():
        if not _LABEL_KEY.match(key) or len(text) > 200 or "\x00" in text:
            raise ValueError(f"label {key!r}: not a label key, or its value is too long")
    return value


WorkingDirectory = Annotated[
    str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[^\x00\r\n]*$")
]
Command = Annotated[
    str, StringConstraints(min_length=1, pattern=NO_NUL), AfterValidator(_command_size)
]
Environment = Annotated[dict[str, str], AfterValidator(_environment)]
Reference = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL),
]
LabelSelector = Annotated[dict[str, str], AfterValidator(_selector)]
JobName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
]


class Targets(BaseModel):
    """Which systems, resolved when the job is submitted: the union of the systems named, the
    members of the groups named, and the systems matching any of the label selectors (a
    selector matches a system that has every one of its labels)."""

    model_config = {"extra": "forbid"}

    systems: list[Reference] = Field(
        default_factory=list,
        max_length=10000,
        description="System ids or names.",
        examples=[["web-1", "4b7a53f4-7a0b-4d5e-9c1e-0a6c9f8f1a2b"]],
    )
    groups: list[Reference] = Field(
        default_factory=list, max_length=100, description="System group ids or names."
    )
    labels: list[LabelSelector] = Field(
        default_factory=list,
        max_length=20,
        description="Label selectors; a system matches one when it has all its labels.",
        examples=[[{"os": "linux", "env": "prod"}]],
    )

    @model_validator(mode="after")
    def _some(self) -> Targets:
        if not (self.systems or self.groups or self.labels):
            raise ValueError("name at least one system, group or label selector")
        return self


class TargetSystem(BaseModel):
    model_config = {"from_attributes": True}

    id: uuid.UUID
    name: str
    kind: str
    connector: str
    health_status: str


class TargetPreview(BaseModel):
    """What a set of targets matches now."""

    count: int = Field(description="Systems matched.")
    kinds: dict[str, int] = Field(description="Systems matched, by kind.")
    systems: list[TargetSystem] = Field(description="The first 100 systems matched, in order.")
    beyond_reach: list[str] = Field(
        description="Names of the first 100 matched systems you may not run a job on."
    )
    beyond_reach_count: int


class FailureThreshold(BaseModel):
    """Stop starting further systems once this many have failed (failed, timed out or error),
    as a count, a percentage of the job's systems, or whichever comes first."""

    model_config = {"extra": "forbid"}

    count: StrictInt | None = Field(None, ge=1, le=100000)
    percent: StrictInt | None = Field(None, ge=1, le=100)

    @model_validator(mode="after")
    def _some(self) -> FailureThreshold:
        if self.count is None and self.percent is None:
            raise ValueError("give count, percent or both")
        return self


class Retries(BaseModel):
    """Try again a system that could not be reached (never one whose command started): up to
    `attempts` tries in all, waiting `backoff_seconds`, doubled each time, between them."""

    model_config = {"extra": "forbid"}

    attempts: int = Field(2, ge=1, le=10, strict=True)
    backoff_seconds: int = Field(5, ge=0, le=3600, strict=True)


class JobSpec(BaseModel):
    """What runs, where and how: the part a job and a job template share."""

    model_config = {"extra": "forbid"}

    command: Command | None = Field(None, description="One command line. Or give `script`.")
    script: Command | None = Field(None, description="A multi-line script, run by `shell`.")
    shell: Shell | None = Field(
        None,
        description="sh or bash for Linux systems, cmd or powershell for Windows. Omitted: "
        "each system's default (sh on Linux, PowerShell on Windows), so one job can span both.",
    )
    targets: Targets
    timeout_seconds: int = Field(3600, ge=1, le=86400, strict=True)
    priority: int = Field(
        5, ge=1, le=10, strict=True, description="1 to 10; higher runs first when busy."
    )
    concurrency: StrictInt | None = Field(
        None, ge=1, le=100000, description="Most systems of this job running at once."
    )
    failure_threshold: FailureThreshold | None = None
    environment: Environment = Field(
        default_factory=dict,
        description="Variables for the command. Stored encrypted; responses show names only.",
    )
    retries: Retries | None = None
    working_directory: WorkingDirectory | None = Field(
        None,
        description="Where the command starts on each system (`/srv/app`, `C:\\Deploy`). "
        "Omitted: the account's home directory (a WinRM system's own working_directory).",
    )

    @model_validator(mode="after")
    def _one_of(self) -> JobSpec:
        if (self.command is None) == (self.script is None):
            raise ValueError("give exactly one of command and script")
        return self


class JobCreate(JobSpec):
    name: JobName | None = Field(
        None, description="Defaults to the command (or the script's first line)."
    )


class JobDuplicate(BaseModel):
    """A new job like this one; only what is given here differs."""

    model_config = {"extra": "forbid"}

    # Omitted: as in the job duplicated. Only `concurrency` may be null (no limit).
    name: JobName | SkipJsonSchema[None] = Field(None, description="Omit to keep this job's.")
    targets: Targets | SkipJsonSchema[None] = Field(
        None, description="Omit to resolve this job's targets again."
    )
    timeout_seconds: StrictInt | SkipJsonSchema[None] = Field(None, ge=1, le=86400)
    priority: StrictInt | SkipJsonSchema[None] = Field(None, ge=1, le=10)
    concurrency: StrictInt | None = Field(None, ge=1, le=100000)

    @field_validator("name", "targets", "timeout_seconds", "priority", mode="before")
    @classmethod
    def _omit_rather_than_null(cls, value: object) -> object:
        return refuse_null(value)


class JobRerun(BaseModel):
    model_config = {"extra": "forbid"}

    only: Literal["all", "failed", "unsuccessful"] = Field(
        "failed",
        description="all: every system again; failed: those that failed, timed out or "
        "errored; unsuccessful: every one that did not succeed (cancelled ones too).",
    )


class StateCounts(BaseModel):
    pending: int = 0
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    timed_out: int = 0
    error: int = 0
    cancelled: int = 0


class FailureThresholdOut(BaseModel):
    count: int | None
    percent: int | None


class RetriesOut(BaseModel):
    attempts: int
    backoff_seconds: int


class JobOut(BaseModel):
    id: uuid.UUID
    name: str
    status: JobStatus
    command: str | None
    script: str | None
    shell: Shell | None = Field(description="None: each system's default shell.")
    targets: dict[str, object] = Field(description="The targets as submitted.")
    target_count: int
    environment_keys: list[str]
    working_directory: str | None
    timeout_seconds: int
    priority: int
    concurrency: int | None
    failure_threshold: FailureThresholdOut | None
    retries: RetriesOut | None
    created_by_id: uuid.UUID | None
    created_by_username: str | None
    source_job_id: uuid.UUID | None
    template_id: uuid.UUID | None = Field(description="The template it was launched from.")
    template_version: int | None
    schedule_id: uuid.UUID | None = Field(description="The schedule that launched it.")
    parameters: dict[str, object] | None = Field(
        description="The template parameters it was launched with (secret ones left out)."
    )
    output_purged_at: datetime | None = Field(
        description="When retention removed the output of its executions."
    )
    counts: StateCounts
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested_at: datetime | None
    threshold_reached_at: datetime | None
    updated_at: datetime
    seq: int = Field(description="Feed number of the job's latest change (see the WebSocket).")


class Waiting(BaseModel):
    code: Literal[
        "no_worker",
        "worker",
        "job_concurrency",
        "system_concurrency",
        "retry_backoff",
        "cancelling",
        "dispatching",
    ]
    message: str


class ExecutionError(BaseModel):
    code: str
    reason: str | None
    message: str | None


class OutputInfo(BaseModel):
    seq: int = Field(description="Highest output seq stored.")
    bytes: int = Field(description="Bytes kept.")
    dropped_bytes: int = Field(description="Bytes dropped between head and tail (past the cap).")
    truncated: bool
    purged_at: datetime | None = Field(
        description="When retention removed the output (the sizes above say what there was)."
    )


class ExecutionOut(BaseModel):
    id: uuid.UUID
    job_id: uuid.UUID
    system_id: uuid.UUID | None
    system_name: str
    connector: str
    position: int
    status: ExecutionStatus
    waiting: Waiting | None = Field(description="Why it is not running yet (null otherwise).")
    attempt: int = Field(description="1 for the first try.")
    max_attempts: int
    worker_id: str | None
    exit_code: int | None
    signal: str | None
    error: ExecutionError | None
    output: OutputInfo
    cancel_requested_at: datetime | None
    not_before: datetime | None
    created_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    version: int


class Chunk(BaseModel):
    seq: int
    stream: OutputStream
    data: str


class OutputPage(BaseModel):
    """Output chunks in order. Ask again with `after_seq=next_seq` for more; `complete` is true
    once the execution has ended and nothing is left after `next_seq`. A jump in seq numbers
    is output dropped past the cap (`dropped_bytes`)."""

    execution_id: uuid.UUID
    status: ExecutionStatus
    chunks: list[Chunk]
    next_seq: int
    complete: bool
    dropped_bytes: int
    truncated: bool


class WorkerOut(BaseModel):
    worker_id: str
    hostname: str
    pid: int
    version: str
    max_jobs: int
    running_jobs: int
    draining: bool
    started_at: datetime
    last_seen_at: datetime
    alive: bool


class Ticket(BaseModel):
    ticket: str = Field(description="Single use; valid for `expires_in` seconds.")
    expires_in: int
