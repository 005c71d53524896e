"""Reaching systems from the API: test a connection, scan a host key, trust it.

Builds a connector `Target` from a system (decrypting its credential in memory only), and
turns connector errors into the categories users see: dns, refused, timeout, network,
protocol, circuit_open, auth, host_key, tls, unsupported.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.policy import Permission
from app.auth.principal import Principal
from app.connectors.base import (
    AuthFailed,
    Connector,
    ConnectorError,
    HostKeyError,
    HostKeyUnknown,
    Target,
    TLSError,
    Unreachable,
)
from app.connectors.registry import Connectors, UnknownConnector
from app.core.errors import BadRequest, Conflict, Forbidden
from app.core.vault import Vault, VaultError
from app.models import Credential, System
from app.models.enums import AuditOutcome, GrantLevel, HealthStatus
from app.repositories import common as common_repo
from app.repositories import systems as systems_repo
from app.services import access, audit
from app.services import systems as systems_service


def category(error: ConnectorError) -> str:
    return error.reason if isinstance(error, Unreachable) else error.category


def health_of(error: ConnectorError) -> HealthStatus:
    if isinstance(error, Unreachable):
        return HealthStatus.unreachable
    if isinstance(error, AuthFailed):
        return HealthStatus.auth_failed
    if isinstance(error, HostKeyUnknown):
        return HealthStatus.host_key_unknown
    if isinstance(error, HostKeyError):
        return HealthStatus.host_key_mismatch
    if isinstance(error, TLSError):
        return HealthStatus.tls_error
    return HealthStatus.error


async def target_for(session: AsyncSession, vault: Vault, system: System) -> Target:
    target = (await targets_for(session, vault, [system]))[system.id]
    if isinstance(target, ConnectorError):
        raise target
    return target


async def targets_for(
    session: AsyncSession, vault: Vault, systems: Iterable[System]
) -> dict[uuid.UUID, Target | ConnectorError]:
    """How to reach each system, its credential opened (one query for all the credentials);
    a credential that cannot be opened is that system's error."""
    systems = list(systems)
    wanted = sorted({s.credential_id for s in systems if s.credential_id is not None})
    credentials = {c.id: c for c in await common_repo.get_many(session, Credential, wanted)}
    opened: dict[uuid.UUID, tuple[str, dict[str, str]] | ConnectorError] = {}
    for credential_id, credential in credentials.items():
        try:
            opened[credential_id] = (credential.username, vault.open(credential.secret))
        except VaultError as exc:
            opened[credential_id] = ConnectorError(str(exc))
    targets: dict[uuid.UUID, Target | ConnectorError] = {}
    for system in systems:
        found = opened.get(system.credential_id) if system.credential_id is not None else None
        if isinstance(found, ConnectorError):
            targets[system.id] = found
            continue
        username, secret = found if found is not None else (None, {})
        targets[system.id] = Target(
            system_id=str(system.id),
            host=system.host,
            port=system.port,
            username=username,
            secret=secret,
            options=dict(system.options or {}),
            host_key=system.host_key,
        )
    return targets


def _connector(connectors: Connectors, system: System) -> Connector:
    try:
        return connectors.get(system.connector)
    except UnknownConnector as exc:
        raise BadRequest(f"connector: {exc}") from None


@dataclass(frozen=True)
class TestOutcome:
    ok: bool
    latency_ms: float | None
    category: str | None
    message: str | None
    checked_at: datetime


async def test_system(
    session: AsyncSession,
    vault: Vault,
    connectors: Connectors,
    principal: Principal,
    system_id: uuid.UUID,
) -> TestOutcome:
    """Connect, authenticate, run `true`; record the system's health either way."""
    system = await systems_service.get(session, principal, system_id)
    await access.require_systems(session, principal, [system.id], GrantLevel.execute, "test it")
    connector = _connector(connectors, system)
    now = datetime.now(UTC)
    try:
        result = await connector.check(await target_for(session, vault, system))
    except ConnectorError as error:
        outcome = TestOutcome(False, None, category(error), error.message, now)
        status = health_of(error)
    else:
        outcome = TestOutcome(True, round(result.latency_ms, 1), None, None, now)
        status = HealthStatus.healthy
    await systems_service.record_health(session, system.id, status, outcome.message, now)
    await audit.record(
        session,
        "system.test",
        actor=principal,
        outcome=AuditOutcome.success if outcome.ok else AuditOutcome.failure,
        target_type="system",
        target_id=system.id,
        details={
            "name": system.name,
            "category": outcome.category,
            "latency_ms": outcome.latency_ms,
        },
    )
    return outcome


@dataclass(frozen=True)
class Scan:
    host_key: str
    fingerprint: str
    pinned_fingerprint: str | None


async def scan_host_key(
    session: AsyncSession,
    vault: Vault,
    connectors: Connectors,
    principal: Principal,
    system_id: uuid.UUID,
) -> Scan:
    """What key the host shows now. Nothing is trusted by this."""
    system = await systems_service.get(session, principal, system_id)
    await access.require_systems(session, principal, [system.id], GrantLevel.manage, "scan it")
    connector = _connector(connectors, system)
    scan = getattr(connector, "scan_host_key", None)
    if scan is None:
        raise BadRequest(f"the {system.connector} connector has no host keys to scan")
    try:
        key, fingerprint = await scan(await target_for(session, vault, system))
    except ConnectorError as error:
        raise BadRequest(
            f"could not scan the host key ({category(error)}): {error.message}",
            details={"category": category(error)},
        ) from None
    await audit.record(
        session,
        "system.host_key_scan",
        actor=principal,
        target_type="system",
        target_id=system.id,
        details={"name": system.name, "found": fingerprint, "pinned": system.host_key_fingerprint},
    )
    return Scan(key, fingerprint, system.host_key_fingerprint)


async def trust_host_key(
    session: AsyncSession,
    vault: Vault,
    connectors: Connectors,
    principal: Principal,
    system_id: uuid.UUID,
    confirmed_fingerprint: str,
) -> System:
    """Scan again and pin the key, if it is the one the user confirmed (compare the
    fingerprint out of band: on the host, `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`)."""
    scan = await scan_host_key(session, vault, connectors, principal, system_id)
    if scan.pinned_fingerprint is not None and not principal.can(Permission.systems_admin):
        # A manager able to intercept the host's traffic could otherwise swap in their own key.
        raise Forbidden(
            "a host key is already pinned for this system; only admins replace one",
            on_rollback=[
                audit.later(
                    "access.denied",
                    actor=principal,
                    outcome=AuditOutcome.denied,
                    target_type="system",
                    target_id=system_id,
                    details={"action": "replace the pinned host key"},
                )
            ],
        )
    if scan.fingerprint != confirmed_fingerprint.strip():
        raise Conflict(
            f"the host now shows {scan.fingerprint}, not the {confirmed_fingerprint} you "
            "confirmed; nothing was trusted",
            details={"found": scan.fingerprint},
        )
    return await systems_service.pin_host_key(session, principal, system_id, scan.host_key, "scan")


log = logging.getLogger("orca.health")
EVENTS_CHANNEL = "orca:events"
SWEEP_LIMIT = 1000


@dataclass(frozen=True)
class Sweep:
    checked: int
    changed: int


async def check_due_systems(
    sessionmaker: async_sessionmaker[AsyncSession],
    vault: Vault,
    connectors: Connectors,
    redis: Redis,
    *,
    interval_seconds: int,
    concurrency: int,
) -> Sweep:
    """Check every system whose last check is older than the interval, `concurrency` at a
    time; store each result as it comes, and publish a `system.health` event where the status
    changed. Systems are claimed first (their check time set), so a sweep still running when
    the next one starts is not repeated by it."""
    now = datetime.now(UTC)
    async with sessionmaker() as session:
        due = await systems_repo.claim_due(
            session, now - timedelta(seconds=interval_seconds), now, SWEEP_LIMIT
        )
        await session.commit()
    gate = asyncio.Semaphore(concurrency)
    changed = 0

    async def check(system: System) -> None:
        nonlocal changed
        message: str | None
        async with gate:
            try:
                async with sessionmaker() as session:
                    target = await target_for(session, vault, system)
                await connectors.get(system.connector).check(target)
            except ConnectorError as error:
                status, message = health_of(error), f"{category(error)}: {error.message}"
            except UnknownConnector as error:
                status, message = HealthStatus.error, str(error)
            except Exception as error:  # one broken system must not stop the sweep
                log.exception("health check of system %s failed", system.id)
                status, message = HealthStatus.error, f"check failed: {type(error).__name__}"
            else:
                status, message = HealthStatus.healthy, None
        checked_at = datetime.now(UTC)
        async with sessionmaker() as session:
            previous = await systems_repo.set_health(
                session, system.id, status, message, checked_at
            )
            await session.commit()
        if previous is not None and previous != status:
            changed += 1
            event = {
                "type": "system.health",
                "system_id": str(system.id),
                "status": status.value,
                "previous": previous.value,
                "error": message,
                "checked_at": checked_at.isoformat(),
            }
            await redis.publish(EVENTS_CHANNEL, json.dumps(event))

    results = await asyncio.gather(*(check(system) for system in due), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            log.warning("storing a health check failed: %s", type(result).__name__)
    return Sweep(checked=len(due), changed=changed)
