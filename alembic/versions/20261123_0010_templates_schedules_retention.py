"""Job templates with typed parameters and team access, schedules and their run history, and
what retention needs: jobs launched from a template or schedule, output removed by retention

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 09:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSONB = postgresql.JSONB(astext_type=sa.Text())
_NOW = sa.text("now()")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(
        *values,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(value) for value in values) + 8,
    )


def _timestamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "job_templates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("script", sa.Text(), nullable=True),
        sa.Column("shell", _enum("shell", "sh", "bash", "cmd", "powershell"), nullable=True),
        sa.Column("targets", _JSONB, nullable=False),
        sa.Column("parameters", _JSONB, server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column(
            "environment_keys", _JSONB, server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("environment_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("working_directory", sa.String(length=1024), nullable=True),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), server_default=sa.text("5"), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=True),
        sa.Column("failure_threshold_count", sa.Integer(), nullable=True),
        sa.Column("failure_threshold_percent", sa.SmallInteger(), nullable=True),
        sa.Column("max_attempts", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "retry_backoff_seconds", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_by_username", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("(command IS NULL) <> (script IS NULL)", name="command_or_script"),
        sa.CheckConstraint("priority BETWEEN 1 AND 10", name="priority_range"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_job_templates_name_lower",
        "job_templates",
        [sa.literal_column("lower(name)")],
        unique=True,
    )
    op.create_table(
        "template_grants",
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("template_id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("level", _enum("template_level", "launch", "edit"), nullable=False),
        sa.ForeignKeyConstraint(["template_id"], ["job_templates.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("template_id", "team_id"),
    )
    op.create_index("ix_template_grants_team_id", "template_grants", ["team_id"])

    op.create_table(
        "schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("template_id", sa.Uuid(), nullable=False),
        sa.Column("cron", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("parameters", _JSONB, server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("secrets_sealed", sa.LargeBinary(), nullable=True),
        sa.Column(
            "missed_policy",
            _enum("missed_run_policy", "skip", "run_once"),
            server_default="skip",
            nullable=False,
        ),
        sa.Column("grace_seconds", sa.Integer(), server_default=sa.text("300"), nullable=False),
        sa.Column("skip_if_running", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("owner_username", sa.String(length=64), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(["template_id"], ["job_templates.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_schedules_name_lower", "schedules", [sa.literal_column("lower(name)")], unique=True
    )
    op.create_index("ix_schedules_template_id", "schedules", ["template_id"])
    op.create_index(
        "ix_schedules_due", "schedules", ["next_run_at"], postgresql_where=sa.text("enabled")
    )
    op.create_table(
        "schedule_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            _enum("schedule_run_status", "launched", "missed", "skipped", "failed"),
            nullable=False,
        ),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["schedule_id"], ["schedules.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_id", "due_at"),
    )
    op.create_index("ix_schedule_runs_job_id", "schedule_runs", ["job_id"])

    op.add_column("jobs", sa.Column("template_id", sa.Uuid(), nullable=True))
    op.add_column("jobs", sa.Column("template_version", sa.Integer(), nullable=True))
    op.add_column("jobs", sa.Column("schedule_id", sa.Uuid(), nullable=True))
    op.add_column("jobs", sa.Column("parameters", _JSONB, nullable=True))
    op.add_column("jobs", sa.Column("output_purged_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        "fk_jobs_template_id_job_templates",
        "jobs",
        "job_templates",
        ["template_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        "fk_jobs_schedule_id_schedules",
        "jobs",
        "schedules",
        ["schedule_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(
        "ix_jobs_template_id_created_at", "jobs", ["template_id", sa.text("created_at DESC")]
    )
    op.create_index(
        "ix_jobs_schedule_id_created_at", "jobs", ["schedule_id", sa.text("created_at DESC")]
    )
    op.create_index(
        "ix_jobs_finished_at",
        "jobs",
        ["finished_at"],
        postgresql_where=sa.text("finished_at IS NOT NULL"),
    )
    op.create_index(
        "ix_jobs_output_kept",
        "jobs",
        ["finished_at"],
        postgresql_where=sa.text("finished_at IS NOT NULL AND output_purged_at IS NULL"),
    )
    op.add_column(
        "executions", sa.Column("output_purged_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("executions", "output_purged_at")
    op.drop_index("ix_jobs_output_kept", table_name="jobs")
    op.drop_index("ix_jobs_finished_at", table_name="jobs")
    op.drop_index("ix_jobs_schedule_id_created_at", table_name="jobs")
    op.drop_index("ix_jobs_template_id_created_at", table_name="jobs")
    op.drop_constraint("fk_jobs_schedule_id_schedules", "jobs", type_="foreignkey")
    op.drop_constraint("fk_jobs_template_id_job_templates", "jobs", type_="foreignkey")
    for column in ("output_purged_at", "parameters", "schedule_id", "template_version"):
        op.drop_column("jobs", column)
    op.drop_column("jobs", "template_id")
    op.drop_table("schedule_runs")
    op.drop_table("schedules")
    op.drop_table("template_grants")
    op.drop_table("job_templates")
