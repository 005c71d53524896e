from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, Timestamps, UUIDPrimaryKey, str_enum
from app.models.enums import TemplateLevel
from app.models.jobs import JobSpec


class JobTemplate(JobSpec, UUIDPrimaryKey, Timestamps, Base):
    """A saved job: what to run, where, and how, with typed parameters filled in at launch."""

    __tablename__ = "job_templates"
    __table_args__ = (
        CheckConstraint("(command IS NULL) <> (script IS NULL)", name="command_or_script"),
        CheckConstraint("priority BETWEEN 1 AND 10", name="priority_range"),
        Index("uq_job_templates_name_lower", func.lower(text("name")), unique=True),
    )

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    # The parameter definitions (schemas/templates.py Parameter), in the order a form shows them.
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_by_username: Mapped[str | None] = mapped_column(String(64))
    # Bumped by every edit; a job records the version it was launched from.
    version: Mapped[int] = mapped_column(default=1, server_default=text("1"))


class TemplateGrant(CreatedAt, Base):
    """A team's access to one template: `launch`, or `edit` (which includes launch)."""

    __tablename__ = "template_grants"
    __table_args__ = (Index("ix_template_grants_team_id", "team_id"),)

    template_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("job_templates.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    level: Mapped[TemplateLevel] = mapped_column(str_enum(TemplateLevel, "template_level"))
