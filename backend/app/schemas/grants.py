from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from app.models.enums import GrantLevel
from app.schemas.common import ORMModel


class GrantOut(ORMModel):
    id: uuid.UUID
    team_id: uuid.UUID
    group_id: uuid.UUID
    level: GrantLevel
    created_at: datetime
    created_by_id: uuid.UUID | None


class GrantCreate(BaseModel):
    team_id: uuid.UUID
    group_id: uuid.UUID
    level: GrantLevel

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "team_id": "0b6f2b8e-3f1d-4c4a-9a63-2f3c1d9e8a10",
                    "group_id": "5d1c7e2a-8b4f-4e0d-a1c2-7f9e3b6d4c21",
                    "level": "execute",
                }
            ]
        }
    }


class GrantUpdate(BaseModel):
    level: GrantLevel
