from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, Timestamps, UUIDPrimaryKey, str_enum
from app.models.enums import GrantLevel


class Team(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "teams"
    # Unique regardless of case, as the API checks it ("Ops" and "ops" are one team).
    __table_args__ = (Index("uq_teams_name_lower", func.lower(text("name")), unique=True),)

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))


class TeamMember(CreatedAt, Base):
    __tablename__ = "team_members"
    __table_args__ = (Index("ix_team_members_user_id", "user_id"),)

    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class Grant(UUIDPrimaryKey, CreatedAt, Base):
    """A team's access level on a system group: view < execute < manage."""

    __tablename__ = "grants"
    __table_args__ = (
        UniqueConstraint("team_id", "group_id"),
        Index("ix_grants_group_id", "group_id"),
    )

    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("system_groups.id", ondelete="CASCADE"))
    level: Mapped[GrantLevel] = mapped_column(str_enum(GrantLevel, "grant_level"))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
