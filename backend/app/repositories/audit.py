from __future__ import annotations

from typing import Any

from sqlalchemy import Row, Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent


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
            AuditEvent.prev_hash,
            AuditEvent.row_hash,
        )
        .where(AuditEvent.seq > after_seq)
        .order_by(AuditEvent.seq)
        .limit(limit)
    )
    return list(result.all())
