"""Audit trail: every state change and security event is written in the caller's transaction."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import Row
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


GENESIS_HASH = bytes(32)


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    rows_checked: int
    head_seq: int
    head_hash: str
    broken_at_seq: int | None = None
    problem: str | None = None


def _json(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def canonical(row: Row[Any]) -> bytes:
    """The row as the chain hashes it: a JSON array of every column, in PostgreSQL's jsonb text
    rendering (", " between items). Computed here, independently of the database's own
    function, so verification does not trust the database that stores the log."""
    occurred = row.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    items = [
        _json(row.seq),
        _json(row.id),
        _json(occurred),
        _json(row.actor_id),
        _json(row.actor_username),
        _json(row.client_ip),
        _json(row.request_id),
        _json(row.action),
        _json(row.outcome),
        _json(row.target_type),
        _json(row.target_id),
        row.details_text,
    ]
    return ("[" + ", ".join(items) + "]").encode()


async def verify_chain(session: AsyncSession, batch_size: int = 5000) -> ChainVerification:
    """Walk the whole log in order; report the first row whose number or hashes do not hold."""
    previous_hash, previous_seq, checked = GENESIS_HASH, 0, 0
    while rows := await audit_repo.chain_batch(session, previous_seq, batch_size):
        for row in rows:
            problem = None
            if row.seq != previous_seq + 1:
                problem = f"rows {previous_seq + 1}..{row.seq - 1} are missing"
            elif bytes(row.prev_hash) != previous_hash:
                problem = "prev_hash does not match the previous row's hash"
            elif bytes(row.row_hash) != hashlib.sha256(previous_hash + canonical(row)).digest():
                problem = "row_hash does not match the row's contents"
            if problem:
                return ChainVerification(
                    False, checked, previous_seq, previous_hash.hex(), row.seq, problem
                )
            previous_hash, previous_seq = bytes(row.row_hash), row.seq
            checked += 1
    return ChainVerification(True, checked, previous_seq, previous_hash.hex())
