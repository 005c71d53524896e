"""The audit trail: query, export and chain verification (admins and auditors)."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from app.api.deps import SessionDep, SessionmakerDep
from app.auth.dependencies import requires
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.core.errors import BadRequest
from app.models import AuditEvent
from app.models.enums import AuditOutcome
from app.repositories.audit import AuditFilter
from app.schemas.audit import AuditEventOut, ChainReport
from app.schemas.common import NO_NUL, NOT_A_NUMBER, Cursor, Limit, Page, Search, SeqSort, page_of
from app.services import audit

router = APIRouter(prefix="/audit", tags=["audit"])

Reader = Annotated[Principal, requires(Permission.audit_read)]
Exporter = Annotated[Principal, requires(Permission.audit_export)]
Verifier = Annotated[Principal, requires(Permission.audit_verify)]

_Short = Annotated[str | None, Query(min_length=1, max_length=64, pattern=NO_NUL)]


def audit_filter(
    since: Annotated[
        AwareDatetime | None,
        NOT_A_NUMBER,
        Query(description="From this time on (ISO 8601 with a time zone, inclusive)."),
    ] = None,
    until: Annotated[
        AwareDatetime | None,
        NOT_A_NUMBER,
        Query(description="Before this time (with a time zone, exclusive)."),
    ] = None,
    actor: Annotated[
        str | None, Query(max_length=64, pattern=NO_NUL, description="Actor's username.")
    ] = None,
    actor_id: uuid.UUID | None = None,
    action: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=NO_NUL,
            description="An action (`auth.login_failed`) or a prefix (`auth.*`).",
        ),
    ] = None,
    target_type: _Short = None,
    target_id: _Short = None,
    outcome: AuditOutcome | None = None,
    q: Search = None,
) -> AuditFilter:
    for field, value in (("since", since), ("until", until)):
        try:
            if value is not None:
                value.astimezone(UTC)
        except OverflowError:
            raise BadRequest(
                f"{field} is out of range", details=[{"field": field, "message": "out of range"}]
            ) from None
    if since is not None and until is not None and since >= until:
        raise BadRequest(
            "until must be later than since",
            details=[{"field": "until", "message": "not after since"}],
        )
    return AuditFilter(
        since=since,
        until=until,
        actor=actor,
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        q=q,
    )


Filters = Annotated[AuditFilter, Depends(audit_filter)]


def _as_dict(event: AuditEvent) -> dict[str, Any]:
    return AuditEventOut.model_validate(event).model_dump(mode="json")


def _described(filters: AuditFilter) -> dict[str, Any]:
    return {k: str(v) for k, v in asdict(filters).items() if v is not None}


@router.get("", response_model=Page[AuditEventOut], summary="Query the audit log")
async def list_audit_events(
    _: Reader,
    session: SessionDep,
    filters: Filters,
    limit: Limit = 100,
    cursor: Cursor = None,
    sort: SeqSort = "-seq",
) -> Page[AuditEventOut]:
    """Rows matching every given filter, newest first. `q` searches username, action,
    target and details. Pages by cursor, which stays fast at millions of rows; no total."""
    page = await audit.search(session, filters, limit=limit, cursor=cursor, sort=sort)
    return page_of(AuditEventOut, page)


@router.get(
    "/export",
    summary="Export the audit log",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Every matching row, oldest first.",
            "content": {"text/csv": {}, "application/x-ndjson": {}},
        }
    },
)
async def export_audit_events(
    actor: Exporter,
    session: SessionDep,
    sessionmaker: SessionmakerDep,
    filters: Filters,
    fmt: Annotated[
        Literal["csv", "ndjson"], Query(alias="format", description="csv or ndjson.")
    ] = "ndjson",
) -> StreamingResponse:
    """Stream every row matching the filters as CSV or NDJSON (one JSON object per line),
    without a size limit. The export itself is audited."""
    await audit.record(
        session,
        "audit.export",
        actor=actor,
        details={"format": fmt, "filters": _described(filters)},
    )
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    return StreamingResponse(
        audit.export(sessionmaker, filters, fmt, _as_dict),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="orca-audit-{stamp}.{fmt}"'},
    )


@router.get("/verify", response_model=ChainReport, summary="Verify the hash chain")
async def verify_audit_chain(
    actor: Verifier,
    session: SessionDep,
    anchor: Annotated[
        list[str] | None,
        Query(
            max_length=100,
            description="SEQ:HASH of a head recorded earlier (repeatable): catches a rewrite "
            "that recomputed the hashes after it, and rows cut from the end.",
            examples=["1200:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
        ),
    ] = None,
) -> ChainReport:
    """Walk the whole log, recomputing every hash independently of the database, and name the
    first row where the chain breaks (an edited, removed or reordered row). Keep the returned
    `head_seq:head_hash` somewhere the database's administrators cannot write, and pass it back
    as `anchor` later. The verification is itself audited."""
    try:
        anchors = tuple(audit.Anchor.parse(each) for each in anchor or [])
    except ValueError as exc:
        raise BadRequest(
            f"anchor: {exc}", details=[{"field": "anchor", "message": str(exc)}]
        ) from None
    result = await audit.verify_chain(session, anchors=anchors)
    await audit.record(
        session,
        "audit.verify",
        actor=actor,
        outcome=AuditOutcome.success if result.ok else AuditOutcome.failure,
        details=asdict(result),
    )
    return ChainReport(**asdict(result))
