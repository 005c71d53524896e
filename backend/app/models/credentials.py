from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, LargeBinary, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamps, UUIDPrimaryKey, str_enum
from app.models.enums import CredentialKind


class Credential(UUIDPrimaryKey, Timestamps, Base):
    """A named secret. `secret` is a Fernet token of the JSON of every secret field."""

    __tablename__ = "credentials"
    __table_args__ = (Index("uq_credentials_name_lower", func.lower(text("name")), unique=True),)

    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[CredentialKind] = mapped_column(str_enum(CredentialKind, "credential_kind"))
    username: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(500))
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    # Public, so kept in clear: the SHA256 fingerprint of an SSH key's public half.
    fingerprint: Mapped[str | None] = mapped_column(String(100))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
