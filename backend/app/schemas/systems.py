from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.models.enums import HealthStatus, SystemKind
from app.schemas.common import ORMModel


class SystemOut(ORMModel):
    id: uuid.UUID
    name: str
    description: str | None
    kind: SystemKind
    connector: str
    host: str
    port: int | None
    labels: dict[str, Any]
    group_ids: list[uuid.UUID] = []
    health_status: HealthStatus
    last_checked_at: datetime | None
    host_key_fingerprint: str | None
    created_at: datetime
