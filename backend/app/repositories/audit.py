from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent
from app.models.audit import search_text
from app.models.enums import AuditOutcome
from app.repositories.filters import escape_like


async def append(session: AsyncSession, event: AuditEvent) -> AuditEvent:
    """Insert one audit row; the database assigns seq and the chain hashes."""
    session.add(event)
    await session.flush()
    return event


async def chain_batch(session: AsyncSession, after_seq: int, limit: int) -> list[Row[Any]]:
    """Audit rows after `after_seq`, in chain order, with `details` as PostgreSQL renders it."""
    result = await session.execute(
        select(
            AuditEvent.seq,
            AuditEvent.id,
            AuditEvent.occurred_at,
            AuditEvent.actor_id,
            AuditEvent.actor_username,
            func.host(AuditEvent.client_ip).label("client_ip"),
            AuditEvent.request_id,
            AuditEvent.action,
            AuditEvent.outcome,
            AuditEvent.target_type,
            AuditEvent.target_id,
            cast(AuditEvent.details, Text).label("details_text"),
            AuditEvent.user_agent,
            AuditEvent.prev_hash,
            AuditEvent.row_hash,
        )
        .where(AuditEvent.seq > after_seq)
        .order_by(AuditEvent.seq)
        .limit(limit)
    )
    return list(result.all())


@dataclass(frozen=True)
class AuditFilter:
    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    actor_id: uuid.UUID | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    outcome: AuditOutcome | None = None
    q: str | None = None


def search(filters: AuditFilter) -> Select[AuditEvent]:
    stmt = select(AuditEvent)
    if filters.since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(AuditEvent.occurred_at < filters.until)
    if filters.actor:
        stmt = stmt.where(func.lower(AuditEvent.actor_username) == filters.actor.lower())
    if filters.actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == filters.actor_id)
    if filters.action:
        if filters.action.endswith("*"):
            prefix = escape_like(filters.action[:-1])
            stmt = stmt.where(AuditEvent.action.like(prefix + "%", escape="\\"))
        else:
            stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.target_type:
        stmt = stmt.where(AuditEvent.target_type == filters.target_type)
    if filters.target_id:
        stmt = stmt.where(AuditEvent.target_id == filters.target_id)
    if filters.outcome is not None:
        stmt = stmt.where(AuditEvent.outcome == filters.outcome)
    if filters.q:
        text = search_text(
            AuditEvent.actor_username,
            AuditEvent.action,
            AuditEvent.target_type,
            AuditEvent.target_id,
            AuditEvent.details,
        )
        stmt = stmt.where(text.ilike(f"%{escape_like(filters.q)}%", escape="\\"))
    return stmt
