from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, Timestamps, UUIDPrimaryKey, str_enum
from app.models.enums import MissedRunPolicy, ScheduleRunStatus


class Schedule(UUIDPrimaryKey, Timestamps, Base):
    """A template launched at the due times of a cron expression, in a time zone, as its owner."""

    __tablename__ = "schedules"
    __table_args__ = (
        Index("uq_schedules_name_lower", func.lower(text("name")), unique=True),
        Index("ix_schedules_template_id", "template_id"),
        # The dispatcher's tick looks only at enabled schedules, soonest first.
        Index("ix_schedules_due", "next_run_at", postgresql_where=text("enabled")),
    )

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    template_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("job_templates.id", ondelete="CASCADE")
    )
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    # Values for the template's parameters; secret ones sealed apart, only their names shown.
    parameters: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    secrets_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    missed_policy: Mapped[MissedRunPolicy] = mapped_column(
        str_enum(MissedRunPolicy, "missed_run_policy"),
        default=MissedRunPolicy.skip,
        server_default=MissedRunPolicy.skip.value,
    )
    # A due time dispatched later than this is late: the missed-run policy decides.
    grace_seconds: Mapped[int] = mapped_column(default=300, server_default=text("300"))
    # Skip a due time while the job this schedule launched last is still running.
    skip_if_running: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    # The next due time not yet dispatched (None while disabled).
    next_run_at: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]
    # The schedule launches as this user, with their rights at each due time.
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    owner_username: Mapped[str | None] = mapped_column(String(64))


class ScheduleRun(UUIDPrimaryKey, CreatedAt, Base):
    """One due time of a schedule and what became of it. Unique per due time: the row that
    makes a due time dispatched exactly once, whichever worker's tick gets there."""

    __tablename__ = "schedule_runs"
    __table_args__ = (
        # Also the index of a schedule's history, newest first (scanned backwards).
        UniqueConstraint("schedule_id", "due_at"),
        Index("ix_schedule_runs_job_id", "job_id"),
    )

    schedule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    due_at: Mapped[datetime]
    status: Mapped[ScheduleRunStatus] = mapped_column(
        str_enum(ScheduleRunStatus, "schedule_run_status")
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    message: Mapped[str | None] = mapped_column(Text)
