from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, UUIDPrimaryKey, str_enum
from app.models.enums import ExecutionStatus, JobStatus, OutputStream, Shell

_NON_TERMINAL = "status IN ('pending', 'queued', 'running')"


class Job(UUIDPrimaryKey, CreatedAt, Base):
    """What a user asked for. Its status is derived from its executions."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("(command IS NULL) <> (script IS NULL)", name="command_or_script"),
        CheckConstraint("priority BETWEEN 1 AND 10", name="priority_range"),
        # Keyset pagination: newest first, id as the tie-breaker.
        Index("ix_jobs_created_at_id", text("created_at DESC"), text("id DESC")),
        Index("ix_jobs_created_by_id_created_at", "created_by_id", text("created_at DESC")),
        Index("ix_jobs_status_created_at", "status", text("created_at DESC")),
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
    command: Mapped[str | None] = mapped_column(Text)
    script: Mapped[str | None] = mapped_column(Text)
    shell: Mapped[Shell] = mapped_column(str_enum(Shell, "shell"))
    # The targets as asked (system ids, group ids, label selectors); the resolved systems are the
    # job's executions.
    targets: Mapped[dict[str, Any]] = mapped_column(JSONB)
    environment: Mapped[dict[str, str]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    timeout_seconds: Mapped[int]
    priority: Mapped[int] = mapped_column(SmallInteger, default=5, server_default=text("5"))
    concurrency: Mapped[int | None]
    failure_threshold_count: Mapped[int | None]
    failure_threshold_percent: Mapped[int | None] = mapped_column(SmallInteger)
    max_attempts: Mapped[int] = mapped_column(SmallInteger, default=1, server_default=text("1"))
    retry_backoff_seconds: Mapped[int] = mapped_column(default=0, server_default=text("0"))
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
    cancel_requested_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Execution(UUIDPrimaryKey, CreatedAt, Base):
    """One job on one system. Every state change is a compare-and-set on `status`."""

    __tablename__ = "executions"
    __table_args__ = (
        Index("ix_executions_job_id_status", "job_id", "status"),
        Index("ix_executions_system_id_created_at", "system_id", text("created_at DESC")),
        # The dispatcher and reconciler look only at live executions; keep that index small.
        Index(
            "ix_executions_live", "status", "lease_expires_at", postgresql_where=text(_NON_TERMINAL)
        ),
    )

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    system_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("systems.id", ondelete="SET NULL")
    )
    # Kept so history reads right after a system is renamed or deleted.
    system_name: Mapped[str] = mapped_column(String(200))
    connector: Mapped[str] = mapped_column(String(64))
    status: Mapped[ExecutionStatus] = mapped_column(
        str_enum(ExecutionStatus, "execution_status"),
        default=ExecutionStatus.pending,
        server_default=ExecutionStatus.pending.value,
    )
    wait_reason: Mapped[str | None] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))
    worker_id: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    queued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    exit_code: Mapped[int | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    output_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    output_truncated: Mapped[bool] = mapped_column(default=False, server_default=text("false"))


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
