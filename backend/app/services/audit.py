"""Audit trail: every state change and security event is written in the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.logging import request_id_var
from app.models import AuditEvent
from app.models.enums import AuditOutcome
from app.repositories import audit as audit_repo


async def record(
    session: AsyncSession,
    action: str,
    *,
    outcome: AuditOutcome = AuditOutcome.success,
    actor_id: uuid.UUID | None = None,
    actor_username: str | None = None,
    client_ip: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        action=action,
        outcome=outcome,
        actor_id=actor_id,
        actor_username=actor_username,
        client_ip=client_ip,
        request_id=request_id_var.get(),
        target_type=target_type,
        target_id=target_id,
        details=details or {},
    )
    return await audit_repo.append(session, event)
