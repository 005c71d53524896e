"""the job engine: execution order, retries, cancels, leases, output accounting, job feed

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 09:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ZERO = sa.text("0")

# What free-text job search looks through (a function, so index and query agree exactly).
SEARCH_FUNCTION = r"""
CREATE FUNCTION orca_job_search_text(name varchar, command text, script text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT name || ' ' || coalesce(command, script, '')
$$
"""


def upgrade() -> None:
    # Jobs: environment values sealed (they may be secrets), the feed's change numbering.
    op.drop_column("jobs", "environment")
    op.add_column(
        "jobs",
        sa.Column(
            "environment_keys",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column("jobs", sa.Column("environment_sealed", sa.LargeBinary(), nullable=True))
    op.add_column("jobs", sa.Column("created_by_username", sa.String(length=64), nullable=True))
    op.add_column("jobs", sa.Column("target_count", sa.Integer(), server_default=_ZERO))
    op.alter_column("jobs", "target_count", nullable=False)
    op.add_column(
        "jobs", sa.Column("threshold_reached_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "jobs",
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.execute("CREATE SEQUENCE job_event_seq")
    op.add_column(
        "jobs",
        sa.Column(
            "event_seq",
            sa.BigInteger(),
            server_default=sa.text("nextval('job_event_seq'::regclass)"),
            nullable=False,
        ),
    )
    op.create_index("ix_jobs_event_seq", "jobs", ["event_seq"])
    op.execute(SEARCH_FUNCTION)
    op.execute(
        "CREATE INDEX ix_jobs_search_text ON jobs USING gin "
        "(orca_job_search_text(name, command, script) gin_trgm_ops)"
    )

    # Executions.
    op.add_column("executions", sa.Column("position", sa.Integer(), server_default=_ZERO))
    op.execute(
        "UPDATE executions e SET position = n.position FROM (SELECT id, row_number() OVER "
        "(PARTITION BY job_id ORDER BY created_at, id) AS position FROM executions) n "
        "WHERE n.id = e.id"
    )
    op.alter_column("executions", "position", nullable=False, server_default=None)
    op.add_column(
        "executions", sa.Column("version", sa.Integer(), server_default=_ZERO, nullable=False)
    )
    op.add_column("executions", sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "executions",
        sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("executions", sa.Column("signal", sa.String(length=32), nullable=True))
    op.add_column("executions", sa.Column("error_reason", sa.String(length=64), nullable=True))
    op.add_column(
        "executions", sa.Column("output_seq", sa.Integer(), server_default=_ZERO, nullable=False)
    )
    op.add_column(
        "executions",
        sa.Column("output_dropped_bytes", sa.BigInteger(), server_default=_ZERO, nullable=False),
    )
    op.create_index(
        "ix_executions_system_busy",
        "executions",
        ["system_id"],
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.create_index(
        "ix_executions_pending",
        "executions",
        ["job_id", "position"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "uq_executions_job_id_position", "executions", ["job_id", "position"], unique=True
    )

    op.add_column(
        "worker_heartbeats",
        sa.Column("draining", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("worker_heartbeats", "draining")

    op.drop_index("uq_executions_job_id_position", table_name="executions")
    op.drop_index(
        "ix_executions_pending",
        table_name="executions",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(
        "ix_executions_system_busy",
        table_name="executions",
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    for name in (
        "output_dropped_bytes",
        "output_seq",
        "error_reason",
        "signal",
        "cancel_requested_at",
        "not_before",
        "version",
        "position",
    ):
        op.drop_column("executions", name)

    op.drop_index("ix_jobs_search_text", table_name="jobs")
    op.drop_index("ix_jobs_event_seq", table_name="jobs")
    op.execute("DROP FUNCTION orca_job_search_text(varchar, text, text)")
    op.drop_column("jobs", "event_seq")
    op.execute("DROP SEQUENCE job_event_seq")
    for name in (
        "updated_at",
        "threshold_reached_at",
        "target_count",
        "created_by_username",
        "environment_sealed",
        "environment_keys",
    ):
        op.drop_column("jobs", name)
    op.add_column(
        "jobs",
        sa.Column(
            "environment",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
