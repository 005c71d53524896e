"""Windows systems: a system's health can be tls_error (its TLS certificate was refused),
a job's shell may be left to each system's kind (sh on Linux, PowerShell on Windows), and a
job may say where its command starts (working_directory)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 09:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = (
    "unknown",
    "healthy",
    "unreachable",
    "auth_failed",
    "host_key_mismatch",
    "error",
    "host_key_unknown",
)
AFTER = (*BEFORE, "tls_error")


def _check(values: tuple[str, ...]) -> str:
    return "health_status IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_systems_health_status"), "systems", type_="check")
    op.create_check_constraint("health_status", "systems", _check(AFTER))
    op.alter_column("jobs", "shell", existing_type=sa.String(length=18), nullable=True)
    op.add_column("jobs", sa.Column("working_directory", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "working_directory")
    op.execute("UPDATE jobs SET shell = 'sh' WHERE shell IS NULL")
    op.alter_column("jobs", "shell", existing_type=sa.String(length=18), nullable=False)
    op.execute("UPDATE systems SET health_status = 'error' WHERE health_status = 'tls_error'")
    op.drop_constraint(op.f("ck_systems_health_status"), "systems", type_="check")
    op.create_check_constraint("health_status", "systems", _check(BEFORE))
