"""The dashboard counts executions created in a recent window: index their creation time

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 09:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_executions_created_at", "executions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_executions_created_at", table_name="executions")
