from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from app.schemas.common import Description, Name, ORMModel


class GroupOut(ORMModel):
    id: uuid.UUID
    name: str
    description: str | None
    created_at: datetime
    system_count: int = 0


class GroupCreate(BaseModel):
    name: Name
    description: Description | None = None

    model_config = {"json_schema_extra": {"examples": [{"name": "web-servers"}]}}


class GroupUpdate(BaseModel):
    name: Name | None = None
    description: Description | None = None


class SystemsAdd(BaseModel):
    system_ids: list[uuid.UUID] = Field(min_length=1, max_length=10000)


class SystemsAdded(BaseModel):
    added: list[uuid.UUID] = Field(description="Systems that were not in the group before.")
