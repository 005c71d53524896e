"""a system's health can be host_key_unknown (no key trusted yet), apart from a mismatch

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 23:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("unknown", "healthy", "unreachable", "auth_failed", "host_key_mismatch", "error")
AFTER = (*BEFORE, "host_key_unknown")


def _check(values: tuple[str, ...]) -> str:
    return "health_status IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_systems_health_status"), "systems", type_="check")
    op.create_check_constraint("health_status", "systems", _check(AFTER))


def downgrade() -> None:
    op.execute(
        "UPDATE systems SET health_status = 'unknown' WHERE health_status = 'host_key_unknown'"
    )
    op.drop_constraint(op.f("ck_systems_health_status"), "systems", type_="check")
    op.create_check_constraint("health_status", "systems", _check(BEFORE))
