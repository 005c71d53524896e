from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    column,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, UUIDPrimaryKey, str_enum
from app.models.enums import ExecutionStatus, JobStatus, OutputStream, Shell

_NON_TERMINAL = "status IN ('pending', 'queued', 'running')"
_BUSY = "status IN ('queued', 'running')"
# Every change of a job takes the next number: the feed of jobs replays from a client's last one.
JOB_EVENT_SEQ = "nextval('job_event_seq')"


def job_search_text(name: Any, command: Any, script: Any) -> ColumnElement[str]:
    """What free-text search looks through: the name and the command or script. A function
    made by migration 0007, so the trigram index and the query name the same expression."""
    return func.orca_job_search_text(name, command, script)


class JobSpec:
    """What runs, where and how: the columns a job and a job template share."""

    command: Mapped[str | None] = mapped_column(Text)
    script: Mapped[str | None] = mapped_column(Text)
    # None: each system's default shell (DEFAULT_SHELL), so one job can span Linux and Windows.
    shell: Mapped[Shell | None] = mapped_column(str_enum(Shell, "shell"))
    # The targets as asked (system ids, group ids, label selectors); a job's resolved systems
    # are its executions.
    targets: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Environment values may be secrets: they are sealed with the vault, only names are shown.
    environment_keys: Mapped[list[str]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    environment_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Where the command starts on each system (None: the account's home, or a WinRM system's).
    working_directory: Mapped[str | None] = mapped_column(String(1024))
    timeout_seconds: Mapped[int]
    priority: Mapped[int] = mapped_column(SmallInteger, default=5, server_default=text("5"))
    concurrency: Mapped[int | None]
    failure_threshold_count: Mapped[int | None]
    failure_threshold_percent: Mapped[int | None] = mapped_column(SmallInteger)
    max_attempts: Mapped[int] = mapped_column(SmallInteger, default=1, server_default=text("1"))
    retry_backoff_seconds: Mapped[int] = mapped_column(default=0, server_default=text("0"))


class Job(JobSpec, UUIDPrimaryKey, CreatedAt, Base):
    """What a user asked for. Its status is derived from its executions."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("(command IS NULL) <> (script IS NULL)", name="command_or_script"),
        CheckConstraint("priority BETWEEN 1 AND 10", name="priority_range"),
        # Keyset pagination: newest first, id as the tie-breaker.
        Index("ix_jobs_created_at_id", text("created_at DESC"), text("id DESC")),
        Index("ix_jobs_created_by_id_created_at", "created_by_id", text("created_at DESC")),
        Index("ix_jobs_status_created_at", "status", text("created_at DESC")),
        Index("ix_jobs_event_seq", "event_seq"),
        Index("ix_jobs_template_id_created_at", "template_id", text("created_at DESC")),
        Index("ix_jobs_schedule_id_created_at", "schedule_id", text("created_at DESC")),
        # Retention: finished jobs, oldest first; those whose output is still kept apart.
        Index(
            "ix_jobs_finished_at", "finished_at", postgresql_where=text("finished_at IS NOT NULL")
        ),
        Index(
            "ix_jobs_output_kept",
            "finished_at",
            postgresql_where=text("finished_at IS NOT NULL AND output_purged_at IS NULL"),
        ),
        Index(
            "ix_jobs_search_text",
            job_search_text(column("name"), column("command"), column("script")).label(
                "search_text"
            ),
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        Index(
            "uq_jobs_idempotency",
            "created_by_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    name: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Kept so history names its author after the account is deleted.
    created_by_username: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[JobStatus] = mapped_column(
        str_enum(JobStatus, "job_status"),
        default=JobStatus.pending,
        server_default=JobStatus.pending.value,
    )
    source_job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL")
    )
    target_count: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    # Launched from a template (which version), and by a schedule, with these parameter values
    # (secret ones left out: they went into the sealed environment).
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("job_templates.id", ondelete="SET NULL")
    )
    template_version: Mapped[int | None]
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="SET NULL")
    )
    parameters: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # When retention removed the output of every execution of this job.
    output_purged_at: Mapped[datetime | None]
    cancel_requested_at: Mapped[datetime | None]
    # When the failure threshold stopped the job starting further systems.
    threshold_reached_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    event_seq: Mapped[int] = mapped_column(BigInteger, server_default=text(JOB_EVENT_SEQ))


class Execution(UUIDPrimaryKey, CreatedAt, Base):
    """One job on one system. Every state change is a compare-and-set on `status`."""

    __tablename__ = "executions"
    __table_args__ = (
        Index("ix_executions_job_id_status", "job_id", "status"),
        Index("ix_executions_system_id_created_at", "system_id", text("created_at DESC")),
        # The dashboard counts executions of the last hours or days.
        Index("ix_executions_created_at", "created_at"),
        # The dispatcher and reconciler look only at live executions; keep that index small.
        Index(
            "ix_executions_live", "status", "lease_expires_at", postgresql_where=text(_NON_TERMINAL)
        ),
        # Per-system concurrency counts what is queued or running on each system.
        Index("ix_executions_system_busy", "system_id", postgresql_where=text(_BUSY)),
        # The dispatcher takes a job's pending executions in target order.
        Index(
            "ix_executions_pending",
            "job_id",
            "position",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("uq_executions_job_id_position", "job_id", "position", unique=True),
    )

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    system_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("systems.id", ondelete="SET NULL")
    )
    # Kept so history reads right after a system is renamed or deleted.
    system_name: Mapped[str] = mapped_column(String(200))
    connector: Mapped[str] = mapped_column(String(64))
    # Where the system came in the job's resolved targets: the order they are started in.
    position: Mapped[int]
    status: Mapped[ExecutionStatus] = mapped_column(
        str_enum(ExecutionStatus, "execution_status"),
        default=ExecutionStatus.pending,
        server_default=ExecutionStatus.pending.value,
    )
    # Bumped by every change of state: a live view keeps the highest it has seen.
    version: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    wait_reason: Mapped[str | None] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))
    # A retry waits for its backoff: not dispatched before this.
    not_before: Mapped[datetime | None]
    worker_id: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    cancel_requested_at: Mapped[datetime | None]
    queued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    exit_code: Mapped[int | None]
    signal: Mapped[str | None] = mapped_column(String(32))
    # Why it ended in `error` (or was skipped): a category, a finer reason, and the message.
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_reason: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    # The highest output seq stored; the bytes kept and, past the cap, the bytes dropped.
    output_seq: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    output_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    output_dropped_bytes: Mapped[int] = mapped_column(
        BigInteger, default=0, server_default=text("0")
    )
    output_truncated: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # When retention removed this execution's output (its size above says what there was).
    output_purged_at: Mapped[datetime | None]


class OutputChunk(Base):
    """An ordered piece of an execution's output; (execution_id, seq) is gapless from 1."""

    __tablename__ = "execution_output"

    execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("executions.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    stream: Mapped[OutputStream] = mapped_column(str_enum(OutputStream, "output_stream"))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
