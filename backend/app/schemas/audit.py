from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_serializer, field_validator

from app.models.enums import AuditOutcome
from app.schemas.common import ORMModel


class AuditEventOut(ORMModel):
    seq: int
    id: uuid.UUID
    occurred_at: datetime
    actor_id: uuid.UUID | None
    actor_username: str | None
    client_ip: str | None
    user_agent: str | None
    request_id: str | None
    action: str
    outcome: AuditOutcome
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    prev_hash: str = Field(description="Hex SHA-256 of the previous row (zeros for the first).")
    row_hash: str = Field(description="Hex SHA-256 over prev_hash and this row's contents.")

    @field_validator("prev_hash", "row_hash", mode="before")
    @classmethod
    def _hex(cls, value: Any) -> Any:
        return bytes(value).hex() if isinstance(value, bytes | memoryview) else value

    @field_validator("client_ip", mode="before")
    @classmethod
    def _ip(cls, value: Any) -> Any:
        return None if value is None else str(value).split("/")[0]

    @field_serializer("occurred_at")
    def _time(self, value: datetime) -> str:
        return value.isoformat()


class ChainReport(BaseModel):
    ok: bool
    rows_checked: int
    head_seq: int = Field(description="Last row verified as part of an intact chain.")
    head_hash: str
    broken_at_seq: int | None = Field(description="The first row that breaks the chain.")
    problem: str | None
