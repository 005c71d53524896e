from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, Text, cast, event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.models import AuditEvent
from app.models.audit import search_text
from app.models.enums import AuditOutcome
from app.repositories.filters import escape_like

# Audit rows wait in the session until its transaction commits, then go in as its last
# statements. The database numbers and chains them under a transaction-wide lock (see migration
# 0001), so a transaction that took that lock and then waited for a row lock could deadlock with
# one holding the row and waiting for the audit lock: a worker claiming an execution (job row,
# then audit) against one finishing another (audit, then job row) did, under the fan-out
# benchmark. Written last, the audit lock is always the last lock taken, and it is held only for
# the inserts and the commit.
_PENDING = "orca_audit_pending"


async def append(session: AsyncSession, event: AuditEvent) -> AuditEvent:
    """Queue one audit row, written when the transaction commits (or at `write_pending`); the
    database then assigns seq and the chain hashes."""
    session.info.setdefault(_PENDING, []).append(event)
    return event


async def write_pending(session: AsyncSession) -> None:
    """Write the queued audit rows now (for a reader in the same transaction)."""
    await session.run_sync(_write_pending)


def _write_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        session.flush()  # every other change first
        session.add_all(pending)
        session.flush()


def _drop_pending(session: Session, previous_transaction: object) -> None:
    session.info.pop(_PENDING, None)


event.listen(Session, "before_commit", _write_pending)
event.listen(Session, "after_soft_rollback", _drop_pending)


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
