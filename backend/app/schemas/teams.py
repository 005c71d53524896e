from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from app.schemas.common import Description, Name, ORMModel


class TeamOut(ORMModel):
    id: uuid.UUID
    name: str
    description: str | None
    created_at: datetime
    member_count: int = 0


class TeamCreate(BaseModel):
    name: Name
    description: Description | None = None

    model_config = {"json_schema_extra": {"examples": [{"name": "web-ops"}]}}


class TeamUpdate(BaseModel):
    name: Name | None = None
    description: Description | None = None


class MembersAdd(BaseModel):
    user_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)


class MembersAdded(BaseModel):
    added: list[uuid.UUID] = Field(description="Users who were not members before.")
