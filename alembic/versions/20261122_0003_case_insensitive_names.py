"""team and system group names unique regardless of case, as the API already checks them

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 19:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("teams", "system_groups")


def upgrade() -> None:
    # Fails (and changes nothing) if two names already differ only by case: rename one first.
    for table in TABLES:
        op.create_index(f"uq_{table}_name_lower", table, [sa.text("lower(name)")], unique=True)
        op.drop_constraint(f"uq_{table}_name", table, type_="unique")


def downgrade() -> None:
    for table in TABLES:
        op.create_unique_constraint(f"uq_{table}_name", table, ["name"])
        op.drop_index(f"uq_{table}_name_lower", table_name=table)
