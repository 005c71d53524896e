from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    FetchedValue,
    Index,
    LargeBinary,
    String,
    column,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from app.models.base import Base, str_enum
from app.models.enums import AuditOutcome


def search_text(*columns: Any) -> ColumnElement[str]:
    """The text free-text search looks through (who, what, on what, details), as indexed."""
    return func.orca_audit_search_text(*columns)


class AuditEvent(Base):
    """One security event or state change.

    Append-only and hash-chained: triggers installed by the migration refuse UPDATE, DELETE and
    TRUNCATE, assign `seq` (gapless), `id` and `occurred_at`, and set `row_hash =
    sha256(prev_hash || canonical row)`, so an edit, removal or reordering breaks the chain.
    """

    __tablename__ = "audit_log"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_audit_log_occurred_at", text("occurred_at DESC")),
        Index("ix_audit_log_actor_id_occurred_at", "actor_id", text("occurred_at DESC")),
        Index("ix_audit_log_action_occurred_at", "action", text("occurred_at DESC")),
        Index("ix_audit_log_target", "target_type", "target_id"),
        # Free-text search (`q`) is a trigram match on orca_audit_search_text(), a function
        # created by migration 0002; `search_text()` below calls it the same way.
        Index(
            "ix_audit_log_search",
            search_text(
                column("actor_username"),
                column("action"),
                column("target_type"),
                column("target_id"),
                column("details"),
            ).label("search"),
            postgresql_using="gin",
            postgresql_ops={"search": "gin_trgm_ops"},
        ),
    )

    # Assigned by the chain trigger, not by a sequence, so chain order and numbering agree.
    seq: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=False, server_default=FetchedValue()
    )
    id: Mapped[uuid.UUID] = mapped_column(unique=True, server_default=FetchedValue())
    occurred_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    actor_id: Mapped[uuid.UUID | None]
    actor_username: Mapped[str | None] = mapped_column(String(64))
    client_ip: Mapped[str | None] = mapped_column(INET)
    request_id: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[AuditOutcome] = mapped_column(str_enum(AuditOutcome, "audit_outcome"))
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary, server_default=FetchedValue())
    row_hash: Mapped[bytes] = mapped_column(LargeBinary, server_default=FetchedValue())
