from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, Timestamps, UUIDPrimaryKey, str_enum
from app.models.enums import Role


class User(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (
        # Usernames are unique regardless of case: "Alice" cannot shadow "alice".
        Index("uq_users_username_lower", func.lower(text("username")), unique=True),
    )

    username: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))
    full_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"), default=Role.viewer)
    is_active: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    # Bumped on password change or deactivation; access tokens carry it, so old ones stop working.
    token_version: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    password_changed_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]


class RefreshToken(UUIDPrimaryKey, CreatedAt, Base):
    """An opaque refresh token, stored only as a hash; rotation keeps a family together."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_family_id", "family_id"),
        Index("ix_refresh_tokens_user_id", "user_id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    family_id: Mapped[uuid.UUID]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    # The whole family ends here however often it rotates: a login lasts at most this long.
    family_expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    replaced_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("refresh_tokens.id", ondelete="SET NULL")
    )
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
