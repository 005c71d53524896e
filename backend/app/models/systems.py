from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, Timestamps, UUIDPrimaryKey, str_enum
from app.models.enums import HealthStatus, SystemKind


class System(UUIDPrimaryKey, Timestamps, Base):
    """A target machine and how to reach it."""

    __tablename__ = "systems"
    __table_args__ = (
        # Label selectors (`labels @> '{"os": "linux"}'`) use this index.
        Index(
            "ix_systems_labels",
            "labels",
            postgresql_using="gin",
            postgresql_ops={"labels": "jsonb_path_ops"},
        ),
        Index("ix_systems_kind", "kind"),
        Index("ix_systems_health_status", "health_status"),
        Index("ix_systems_credential_id", "credential_id"),
        Index("uq_systems_name_lower", func.lower(text("name")), unique=True),
    )

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(500))
    kind: Mapped[SystemKind] = mapped_column(str_enum(SystemKind, "system_kind"))
    connector: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int | None]
    credential_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("credentials.id", ondelete="RESTRICT")
    )
    # SSH: the pinned host key ("ssh-ed25519 AAAA...") and its SHA256 fingerprint.
    host_key: Mapped[str | None] = mapped_column(Text)
    host_key_fingerprint: Mapped[str | None] = mapped_column(String(100))
    # Connector-specific settings (WinRM transport, scheme, certificate policy, jump host ...),
    # validated by the connector's own schema.
    options: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    labels: Mapped[dict[str, str]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    max_concurrency: Mapped[int | None]
    health_status: Mapped[HealthStatus] = mapped_column(
        str_enum(HealthStatus, "health_status"),
        default=HealthStatus.unknown,
        server_default=HealthStatus.unknown.value,
    )
    last_checked_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class SystemGroup(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "system_groups"
    __table_args__ = (Index("uq_system_groups_name_lower", func.lower(text("name")), unique=True),)

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))


class SystemGroupMember(CreatedAt, Base):
    __tablename__ = "system_group_members"
    __table_args__ = (Index("ix_system_group_members_system_id", "system_id"),)

    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("system_groups.id", ondelete="CASCADE"), primary_key=True
    )
    system_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("systems.id", ondelete="CASCADE"), primary_key=True
    )
