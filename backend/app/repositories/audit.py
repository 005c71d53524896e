from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent


async def append(session: AsyncSession, event: AuditEvent) -> AuditEvent:
    """Insert one audit row; the database assigns seq and the chain hashes."""
    session.add(event)
    await session.flush()
    return event
