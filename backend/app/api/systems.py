"""Systems: listed as far as the caller's grants reach; edited by those who manage them;
added, removed and connected by admins."""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import ConnectorsDep, SessionDep, VaultDep
from app.auth.dependencies import requires
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.core.errors import BadRequest
from app.models import System
from app.models.enums import HealthStatus, SystemKind
from app.repositories.pagination import Page as PageData
from app.schemas.common import Cursor, Deleted, Limit, NameSort, Page, Search, page_of
from app.schemas.systems import (
    HostKeyPin,
    HostKeyScan,
    HostKeyTrust,
    ImportResult,
    SystemCreate,
    SystemOut,
    SystemUpdate,
    TestResult,
)
from app.services import connectivity
from app.services import systems as systems_service

router = APIRouter(prefix="/systems", tags=["systems"])

Reader = Annotated[Principal, requires(Permission.systems_read)]
Editor = Annotated[Principal, requires(Permission.systems_edit)]
Admin = Annotated[Principal, requires(Permission.systems_admin)]


def _labels(selectors: list[str], field: str = "label") -> dict[str, str]:
    labels: dict[str, str] = {}
    for selector in selectors:
        key, sep, value = selector.partition("=")
        if not sep or not key.strip():
            raise BadRequest(
                f"{field}: {json.dumps(selector)} is not key=value",
                details=[{"field": field, "message": "expected key=value"}],
            )
        labels[key.strip()] = value.strip()
    return labels


def _out(system: System, groups: dict[uuid.UUID, list[uuid.UUID]]) -> SystemOut:
    return SystemOut.model_validate(system).model_copy(
        update={"group_ids": groups.get(system.id, [])}
    )


async def systems_page(
    session: AsyncSession, principal: Principal, page: PageData[Any]
) -> Page[SystemOut]:
    groups = await systems_service.groups_of(session, principal, page.items)
    return page_of(SystemOut, page, [_out(system, groups) for system in page.items])


@router.get("", response_model=Page[SystemOut], summary="List systems")
async def list_systems(
    principal: Reader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: NameSort = "name",
    q: Search = None,
    kind: SystemKind | None = None,
    health: HealthStatus | None = None,
    connector: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")] = None,
    group_id: uuid.UUID | None = None,
    label: Annotated[
        list[str] | None,
        Query(max_length=20, description="key=value; repeat to require several labels."),
    ] = None,
) -> Page[SystemOut]:
    """The systems the caller may see (through a grant on one of their groups; every system
    for admins and auditors), matching every given filter."""
    page = await systems_service.search(
        session,
        principal,
        limit=limit,
        cursor=cursor,
        sort=sort,
        q=q,
        kind=kind,
        health=health,
        group_id=group_id,
        labels=_labels(label or []),
        connector=connector,
    )
    return await systems_page(session, principal, page)


@router.get("/{system_id}", response_model=SystemOut, summary="Get a system")
async def get_system(system_id: uuid.UUID, principal: Reader, session: SessionDep) -> SystemOut:
    system = await systems_service.get(session, principal, system_id)
    return _out(system, await systems_service.groups_of(session, principal, [system]))


async def _one(session: AsyncSession, principal: Principal, system: System) -> SystemOut:
    return _out(system, await systems_service.groups_of(session, principal, [system]))


@router.post(
    "", response_model=SystemOut, status_code=status.HTTP_201_CREATED, summary="Add a system"
)
async def create_system(body: SystemCreate, principal: Admin, session: SessionDep) -> SystemOut:
    """Add a system. Its connector checks `options`; the credential must suit the connector;
    a `host_key` given here is pinned (otherwise scan and trust it before the first job)."""
    system = await systems_service.create(session, principal, body.model_dump())
    return await _one(session, principal, system)


@router.patch("/{system_id}", response_model=SystemOut, summary="Change a system")
async def update_system(
    system_id: uuid.UUID, body: SystemUpdate, principal: Editor, session: SessionDep
) -> SystemOut:
    """Change a system you manage. `group_ids` replaces its groups (only groups you manage may
    be joined or left). Connector, host, port, credential and options are admin-only; a new
    host or port forgets the pinned host key."""
    changes = body.model_dump(exclude_unset=True)
    nullable = {"description", "credential_id", "max_concurrency", "port"}
    changes = {k: v for k, v in changes.items() if v is not None or k in nullable}
    system = await systems_service.update(session, principal, system_id, changes)
    return await _one(session, principal, system)


@router.delete("/{system_id}", response_model=Deleted, summary="Remove a system")
async def delete_system(system_id: uuid.UUID, principal: Admin, session: SessionDep) -> Deleted:
    await systems_service.delete(session, principal, system_id)
    return Deleted()


@router.put("/{system_id}/host-key", response_model=SystemOut, summary="Pin a host key")
async def pin_host_key(
    system_id: uuid.UUID, body: HostKeyPin, principal: Admin, session: SessionDep
) -> SystemOut:
    """Trust this public key (`ssh-ed25519 AAAA…`, from the host's /etc/ssh or your own
    records) as the system's host key (admins). Connections to a host showing any other key
    are refused."""
    system = await systems_service.pin_host_key(
        session, principal, system_id, body.host_key, "given"
    )
    return await _one(session, principal, system)


_CSV_COLUMNS = {
    "name",
    "description",
    "kind",
    "connector",
    "host",
    "port",
    "credential",
    "groups",
    "labels",
    "host_key",
    "max_concurrency",
}


# CSV cells are text; these columns are whole numbers in JSON, where integers are strict.
# A cell that is not a whole number stays text, so the row's error names the column.
_CSV_INTEGERS = {"port", "max_concurrency"}


def _csv_rows(text: str) -> list[dict[str, Any]]:
    """CSV with a header row. `groups` is `a;b`, `labels` is `k=v;k2=v2`; `port` and
    `max_concurrency` are whole numbers; empty cells are left out."""
    reader = csv.DictReader(io.StringIO(text))
    unknown = set(reader.fieldnames or []) - _CSV_COLUMNS
    if not reader.fieldnames or unknown:
        raise BadRequest(
            "the CSV header must name columns among: " + ", ".join(sorted(_CSV_COLUMNS)),
            details=[{"field": "header", "message": f"unknown: {', '.join(sorted(unknown))}"}],
        )
    rows = []
    try:
        records = list(reader)
    except csv.Error as exc:
        raise BadRequest(
            f"body: not readable as CSV ({exc})",
            details=[{"field": "body", "message": "malformed CSV"}],
        ) from None
    for record in records:
        row: dict[str, Any] = {}
        for key, value in record.items():
            value = (value or "").strip() if isinstance(value, str) else value
            if not value or key is None:
                continue
            if key == "groups":
                row[key] = [part.strip() for part in value.split(";") if part.strip()]
            elif key == "labels":
                row[key] = _labels([part for part in value.split(";") if part.strip()], "labels")
            elif key in _CSV_INTEGERS and value.isascii() and value.isdigit():
                row[key] = int(value)
            else:
                row[key] = value
        rows.append(row)
    return rows


@router.post(
    "/import",
    response_model=ImportResult,
    status_code=status.HTTP_201_CREATED,
    summary="Import systems",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def import_systems(request: Request, principal: Admin, session: SessionDep) -> ImportResult:
    """Add many systems at once from JSON (a list of systems as in POST /systems, which may
    also name a `credential` and `groups`) or CSV (columns name, host, port, kind, connector,
    credential, groups, labels, description, host_key, max_concurrency). All or nothing: any
    problem answers 400 listing every row and field at fault, and nothing is imported."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest(
            "body: not UTF-8", details=[{"field": "body", "message": "not UTF-8"}]
        ) from None
    if content_type == "text/csv":
        rows = _csv_rows(text)
    else:
        try:
            parsed = json.loads(text)
        except ValueError:
            raise BadRequest(
                "body: send a JSON list of systems, or CSV as text/csv",
                details=[{"field": "body", "message": "not valid JSON"}],
            ) from None
        if not isinstance(parsed, list) or not all(isinstance(r, dict) for r in parsed):
            raise BadRequest(
                "body: a JSON list of objects is expected",
                details=[{"field": "body", "message": "not a list of objects"}],
            )
        rows = parsed
    created = await systems_service.import_systems(session, principal, rows)
    return ImportResult(created=len(created), ids=[system.id for system in created])


@router.post("/{system_id}/test", response_model=TestResult, summary="Test the connection")
async def test_system(
    system_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    vault: VaultDep,
    connectors: ConnectorsDep,
) -> TestResult:
    """Connect, authenticate and run a trivial command (needs `execute` on the system). Answers
    200 either way: `ok`, the latency, or the category of failure. The system's health is
    updated."""
    outcome = await connectivity.test_system(session, vault, connectors, principal, system_id)
    return TestResult(**asdict(outcome))


@router.post("/{system_id}/host-key/scan", response_model=HostKeyScan, summary="Scan the host key")
async def scan_host_key(
    system_id: uuid.UUID,
    principal: Editor,
    session: SessionDep,
    vault: VaultDep,
    connectors: ConnectorsDep,
) -> HostKeyScan:
    """Fetch the key the host shows now, without trusting it. Compare its fingerprint with the
    one on the host itself, then trust it."""
    scan = await connectivity.scan_host_key(session, vault, connectors, principal, system_id)
    return HostKeyScan(
        host_key=scan.host_key,
        fingerprint=scan.fingerprint,
        pinned_fingerprint=scan.pinned_fingerprint,
        matches_pinned=scan.fingerprint == scan.pinned_fingerprint,
    )


@router.post(
    "/{system_id}/host-key/trust", response_model=SystemOut, summary="Scan and trust the host key"
)
async def trust_host_key(
    system_id: uuid.UUID,
    body: HostKeyTrust,
    principal: Editor,
    session: SessionDep,
    vault: VaultDep,
    connectors: ConnectorsDep,
) -> SystemOut:
    """Scan again and pin the key if its fingerprint is the one you confirmed (409, trusting
    nothing, if the host shows another). Managers may trust a system's first key; replacing a
    pinned key is for admins. Audited."""
    system = await connectivity.trust_host_key(
        session, vault, connectors, principal, system_id, body.fingerprint
    )
    return await _one(session, principal, system)
