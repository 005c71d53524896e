"""Audit trail: every state change and security event is written in the caller's transaction."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Protocol

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.context import current_client
from app.core.errors import AfterRollback
from app.core.logging import request_id_var
from app.models import AuditEvent
from app.models.enums import AuditOutcome
from app.repositories import audit as audit_repo
from app.repositories.audit import AuditFilter
from app.repositories.pagination import Order, Page, keyset_page


class Actor(Protocol):
    """Who did it: a User row or the request's Principal."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def username(self) -> str: ...


# Keys whose values never enter the audit log, wherever they sit in the details.
_SECRET_KEY = re.compile(
    r"pass(word|phrase)?|secret|token|private[_-]?key|authorization|cookie|api[_-]?key",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def scrub(value: Any) -> Any:
    """A copy of `value` with the value of every secret-looking key replaced."""
    if isinstance(value, dict):
        return {
            str(key): REDACTED if _SECRET_KEY.search(str(key)) else scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


async def record(
    session: AsyncSession,
    action: str,
    *,
    actor: Actor | None = None,
    actor_username: str | None = None,
    outcome: AuditOutcome = AuditOutcome.success,
    target_type: str | None = None,
    target_id: object = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit row in the caller's transaction.

    The client's address, user agent and the request id come from the request context. Pass
    `actor_username` alone for an actor with no account (the CLI, an unknown login name).
    """
    client = current_client()
    event = AuditEvent(
        action=action,
        outcome=outcome,
        actor_id=actor.id if actor is not None else None,
        actor_username=(actor.username if actor is not None else actor_username),
        client_ip=client.ip,
        user_agent=client.user_agent,
        request_id=request_id_var.get(),
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        details=scrub(details or {}),
    )
    return await audit_repo.append(session, event)


async def record_update(
    session: AsyncSession,
    actor: Actor,
    resource: str,
    row: Any,
    changed: dict[str, Any],
    **details: Any,
) -> None:
    """`<resource>.update` with the fields that changed (from `services.common.changes_of`),
    when any did; nothing otherwise."""
    if changed:
        await record(
            session,
            f"{resource}.update",
            actor=actor,
            target_type=resource,
            target_id=row.id,
            details={"name": row.name, **details, "changes": changed},
        )


@dataclass(frozen=True)
class _Who:
    id: uuid.UUID
    username: str


def later(action: str, *, actor: Actor | None = None, **fields: Any) -> AfterRollback:
    """The row `record()` would write, written instead after the failed request's transaction
    has been rolled back: for refusals (raise the error with `on_rollback=[later(...)]`). The
    actor is read now, while its row is still loaded."""
    who = _Who(actor.id, actor.username) if actor is not None else None

    async def write(session: AsyncSession) -> None:
        await record(session, action, actor=who, **fields)

    return write


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
    # Added in migration 0002, and only when present, so older rows hash as they always did.
    if row.user_agent is not None:
        items.append(_json(row.user_agent))
    return ("[" + ", ".join(items) + "]").encode()


@dataclass(frozen=True)
class Anchor:
    """A chain head recorded earlier and kept outside the database (by an auditor, a ticket,
    a log shipper): row `seq` had hash `row_hash`. The chain alone cannot show a rewrite that
    recomputed every later hash, or rows cut from the end; an anchor can."""

    seq: int
    row_hash: bytes

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """`SEQ:HEX`, as `verify` prints the head."""
        seq, sep, digest = text.partition(":")
        try:
            anchor = cls(int(seq), bytes.fromhex(digest))
        except ValueError:
            anchor = None
        if not sep or anchor is None or anchor.seq < 1 or len(anchor.row_hash) != 32:
            raise ValueError("an anchor is SEQ:HASH, the hash in 64 hex digits")
        return anchor


async def verify_chain(
    session: AsyncSession, batch_size: int = 5000, anchors: tuple[Anchor, ...] = ()
) -> ChainVerification:
    """Walk the whole log in order; report the first row whose number or hashes do not hold,
    or that disagrees with an anchor."""
    expected = {anchor.seq: anchor.row_hash for anchor in anchors}
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
            elif row.seq in expected and bytes(row.row_hash) != expected[row.seq]:
                problem = "row_hash differs from the anchor recorded for this row: rewritten"
            if problem:
                return ChainVerification(
                    False, checked, previous_seq, previous_hash.hex(), row.seq, problem
                )
            previous_hash, previous_seq = bytes(row.row_hash), row.seq
            checked += 1
    beyond = [seq for seq in expected if seq > previous_seq]
    if beyond:
        return ChainVerification(
            False,
            checked,
            previous_seq,
            previous_hash.hex(),
            previous_seq + 1,
            f"the log ends at seq {previous_seq}, but an anchor names seq {min(beyond)}: "
            "rows were removed from the end",
        )
    return ChainVerification(True, checked, previous_seq, previous_hash.hex())


NEWEST_FIRST = Order.of("-seq", AuditEvent.seq)
OLDEST_FIRST = Order.of("seq", AuditEvent.seq)
SORTS = {"-seq": NEWEST_FIRST, "seq": OLDEST_FIRST}
EXPORT_BATCH = 1000
CSV_COLUMNS = (
    "seq",
    "id",
    "occurred_at",
    "actor_id",
    "actor_username",
    "client_ip",
    "user_agent",
    "request_id",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "details",
    "prev_hash",
    "row_hash",
)


async def search(
    session: AsyncSession, filters: AuditFilter, *, limit: int, cursor: str | None, sort: str
) -> Page[AuditEvent]:
    """A page of the log. No total: counting millions of rows on every page is not cheap."""
    stmt = audit_repo.search(filters)
    return await keyset_page(session, stmt, SORTS[sort], limit=limit, cursor=cursor, count=False)


def _csv_cell(value: Any) -> str:
    text = (
        ""
        if value is None
        else (
            json.dumps(value, ensure_ascii=False, sort_keys=True)
            if isinstance(value, dict)
            else str(value)
        )
    )
    # A spreadsheet would run a cell starting with these as a formula (CSV injection).
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


async def export(
    sessionmaker: async_sessionmaker[AsyncSession],
    filters: AuditFilter,
    fmt: str,
    as_dict: Callable[[AuditEvent], dict[str, Any]],
) -> AsyncIterator[bytes]:
    """Every matching row, oldest first, as CSV or NDJSON, fetched in batches each in its own
    short transaction so that an export of millions of rows holds nothing open for long."""
    if fmt == "csv":
        buffer = io.StringIO()
        csv.writer(buffer).writerow(CSV_COLUMNS)
        yield buffer.getvalue().encode()
    cursor: str | None = None
    while True:
        async with sessionmaker() as session:
            page = await keyset_page(
                session,
                audit_repo.search(filters),
                OLDEST_FIRST,
                limit=EXPORT_BATCH,
                cursor=cursor,
                count=False,
            )
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for event in page.items:
            row = as_dict(event)
            if fmt == "csv":
                writer.writerow([_csv_cell(row[column]) for column in CSV_COLUMNS])
            else:
                buffer.write(json.dumps(row, ensure_ascii=False) + "\n")
        yield buffer.getvalue().encode()
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
