"""credentials: the public key's fingerprint, and names unique regardless of case

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 21:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("credentials", sa.Column("fingerprint", sa.String(length=100), nullable=True))
    op.create_index(
        "uq_credentials_name_lower", "credentials", [sa.text("lower(name)")], unique=True
    )
    op.drop_constraint("uq_credentials_name", "credentials", type_="unique")


def downgrade() -> None:
    op.create_unique_constraint("uq_credentials_name", "credentials", ["name"])
    op.drop_index("uq_credentials_name_lower", table_name="credentials")
    op.drop_column("credentials", "fingerprint")
