"""system names unique regardless of case, as the API checks them

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 22:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("uq_systems_name_lower", "systems", [sa.text("lower(name)")], unique=True)
    op.drop_constraint("uq_systems_name", "systems", type_="unique")


def downgrade() -> None:
    op.create_unique_constraint("uq_systems_name", "systems", ["name"])
    op.drop_index("uq_systems_name_lower", table_name="systems")
