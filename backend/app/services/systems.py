"""Systems: read by everyone as far as their grants reach, edited by those who manage them,
and connected (connector, host, port, credential, options) by admins only."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.policy import Permission
from app.auth.principal import Principal
from app.connectors import registry
from app.connectors.ssh_keys import KeyProblem, parse_public_key
from app.core.errors import BadRequest, NotFound, OrcaError
from app.models import Credential, System, SystemGroup, SystemGroupMember
from app.models.enums import GrantLevel, HealthStatus, SystemKind
from app.repositories import common as common_repo
from app.repositories import systems as systems_repo
from app.repositories.pagination import Page, keyset_page, name_sorts
from app.services import access, audit
from app.services.common import changes_of, require_existing, require_unique_name

SORTS = name_sorts(System)
# Changing these decides where a credential is sent: admins only.
CONNECTION_FIELDS = frozenset({"connector", "host", "port", "credential_id", "options"})


def _field_error(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", details=[{"field": field, "message": message}])


async def get(session: AsyncSession, principal: Principal, system_id: uuid.UUID) -> System:
    """The system, if the principal may see it; otherwise 404, as if it did not exist."""
    system = await systems_repo.get_visible(
        session, system_id, access.systems_filter(principal, GrantLevel.view)
    )
    if system is None:
        raise await access.out_of_reach(session, principal, System, system_id, "system")
    return system


async def search(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    sort: str,
    q: str | None = None,
    kind: SystemKind | None = None,
    health: HealthStatus | None = None,
    group_id: uuid.UUID | None = None,
    labels: dict[str, str] | None = None,
    connector: str | None = None,
) -> Page[System]:
    if group_id is not None and await access.group_level(session, principal, group_id) is None:
        raise NotFound(
            f"group_id: no group with id {group_id}",
            details=[{"field": "group_id", "message": "no such group"}],
        )
    stmt = systems_repo.search(
        visible=access.systems_filter(principal, GrantLevel.view),
        q=q,
        kind=kind,
        health=health,
        group_id=group_id,
        labels=labels,
        connector=connector,
    )
    return await keyset_page(session, stmt, SORTS[sort], limit=limit, cursor=cursor)


async def groups_of(
    session: AsyncSession, principal: Principal, systems: list[System]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The groups each system is in, among those the principal may see."""
    return await systems_repo.groups_of(
        session, [system.id for system in systems], access.groups_filter(principal)
    )


# -- checking what a system is given ------------------------------------------------------


def _connector(name: str) -> type[Any]:
    try:
        return registry.get(name)
    except registry.UnknownConnector as exc:
        raise _field_error("connector", str(exc)) from None


def _options(connector: type[Any], options: dict[str, Any]) -> dict[str, Any]:
    schema: type[BaseModel] = connector.options_schema
    try:
        return schema.model_validate(options).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(["options", *(str(part) for part in first["loc"])])
        message = (
            "not an option of this connector"
            if first["type"] == "extra_forbidden"
            else first["msg"]
        )
        raise _field_error(field, str(message)) from None


async def _credential(
    session: AsyncSession,
    connector: type[Any],
    credential_id: uuid.UUID | None,
    options: dict[str, Any],
) -> None:
    accepted = getattr(connector, "credential_kinds", None)
    if credential_id is None:
        return
    credential = await common_repo.get_by_id(session, Credential, credential_id)
    if credential is None:
        raise _field_error("credential_id", f"no credential with id {credential_id}")
    if accepted is not None and credential.kind not in accepted:
        kinds = ", ".join(sorted(kind.value for kind in accepted)) or "none"
        raise _field_error(
            "credential_id",
            f"a {credential.kind.value} credential cannot be used with the "
            f"{connector.name} connector (it takes: {kinds})",
        )
    # A connector may need a particular kind for its options (WinRM's certificate transport).
    credential_problem = getattr(connector, "credential_problem", None)
    if credential_problem is not None and (problem := credential_problem(options, credential.kind)):
        raise _field_error("credential_id", problem)


def _host_key(text: str) -> tuple[str, str]:
    try:
        return parse_public_key(text)
    except KeyProblem as exc:
        raise _field_error("host_key", str(exc)) from None


async def _groups_for(
    session: AsyncSession, principal: Principal, group_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """The groups, which must exist and which the principal must manage."""
    wanted = await require_existing(session, SystemGroup, group_ids, "group_ids", "group")
    for group_id in wanted:
        if await access.group_level(session, principal, group_id) != GrantLevel.manage:
            raise _field_error("group_ids", f"you do not manage group {group_id}")
    return wanted


def _kind(connector: type[Any], kind: SystemKind | None) -> SystemKind:
    """The system's kind: as given, if the connector reaches that kind; else its first."""
    kinds: frozenset[SystemKind] = getattr(connector, "kinds", frozenset(SystemKind))
    if kind is None:
        return SystemKind.linux if SystemKind.linux in kinds else min(kinds)
    if kind not in kinds:
        reached = ", ".join(sorted(k.value for k in kinds))
        raise _field_error("kind", f"the {connector.name} connector reaches {reached} systems")
    return kind


async def _validated(session: AsyncSession, values: dict[str, Any]) -> dict[str, Any]:
    """Check the connection fields of a new or changed system; fill the connector's port, and
    the kind from the connector when none is given (WinRM: windows)."""
    connector = _connector(values["connector"])
    values["kind"] = _kind(connector, values.get("kind"))
    values["options"] = _options(connector, values.get("options") or {})
    await _credential(session, connector, values.get("credential_id"), values["options"])
    if values.get("port") is None:
        values["port"] = default_port(connector, values["options"])
    return values


def default_port(connector: type[Any], options: dict[str, Any]) -> int | None:
    """The connector's port for these options (WinRM: 5985 for http, 5986 for https)."""
    port_for = getattr(connector, "port_for", None)
    return port_for(options) if port_for is not None else getattr(connector, "default_port", None)


def _current_default_port(system: System) -> int | None:
    try:
        return default_port(registry.get(system.connector), system.options or {})
    except registry.UnknownConnector:
        return None


def insecure_settings(connector_name: str, options: dict[str, Any]) -> set[str]:
    """The options that weaken how a system is reached (certificate checks off, say)."""
    try:
        connector = registry.get(connector_name)
    except registry.UnknownConnector:
        return set()
    named = getattr(connector, "insecure_settings", None)
    return set(named(options)) if named is not None else set()


async def _audit_relaxed(
    session: AsyncSession, principal: Principal, system: System, before: set[str]
) -> None:
    """An explicit audit row when a change weakens security, besides the change itself."""
    relaxed = sorted(insecure_settings(system.connector, system.options or {}) - before)
    if relaxed:
        await audit.record(
            session,
            "system.security_relaxed",
            actor=principal,
            target_type="system",
            target_id=system.id,
            details={"name": system.name, "settings": relaxed},
        )


# -- changes ---------------------------------------------------------------------------------


async def create(session: AsyncSession, principal: Principal, body: dict[str, Any]) -> System:
    await require_unique_name(session, System, body["name"], "system")
    values = await _validated(session, dict(body))
    group_ids = await _groups_for(session, principal, values.pop("group_ids", []))
    host_key = values.pop("host_key", None)
    system = System(**values)
    if host_key:
        system.host_key, system.host_key_fingerprint = _host_key(host_key)
    await common_repo.add(session, system)
    if group_ids:
        await common_repo.add_links(
            session, SystemGroupMember, ("system_id", system.id), "group_id", group_ids
        )
    await audit.record(
        session,
        "system.create",
        actor=principal,
        target_type="system",
        target_id=system.id,
        details={
            "name": system.name,
            "connector": system.connector,
            "host": system.host,
            "port": system.port,
            "credential_id": str(system.credential_id) if system.credential_id else None,
            "host_key_fingerprint": system.host_key_fingerprint,
            "groups": [str(g) for g in group_ids],
        },
    )
    await _audit_relaxed(session, principal, system, set())
    return system


async def _managed(session: AsyncSession, principal: Principal, system_id: uuid.UUID) -> System:
    """The system, locked, if the principal manages it (404 if it cannot even see it)."""
    system = await get(session, principal, system_id)
    await access.require_systems(session, principal, [system.id], GrantLevel.manage, "change it")
    locked = await common_repo.get_by_id(session, System, system.id, for_update=True)
    assert locked is not None
    return locked


async def update(
    session: AsyncSession, principal: Principal, system_id: uuid.UUID, changes: dict[str, Any]
) -> System:
    system = await _managed(session, principal, system_id)
    relaxed_before = insecure_settings(system.connector, system.options or {})
    connection = sorted(CONNECTION_FIELDS & set(changes))
    if connection and not principal.can(Permission.systems_admin):
        raise BadRequest(
            f"only admins change how a system is reached ({', '.join(connection)})",
            details=[{"field": field, "message": "admins only"} for field in connection],
        )
    if "name" in changes:
        await require_unique_name(session, System, changes["name"], "system", system.id)
    group_ids = changes.pop("group_ids", None)
    if connection:
        moved = changes.get("connector", system.connector) != system.connector
        merged = {
            # A new connector without a kind given: the kind it reaches (ssh -> winrm: windows).
            "kind": changes.get("kind", None if moved else system.kind),
            "connector": system.connector,
            "options": system.options,
            "credential_id": system.credential_id,
            "port": system.port,
            **changes,
        }
        if "port" not in changes and (moved or system.port == _current_default_port(system)):
            merged["port"] = None  # the (new) connector's default for the (new) options
        validated = await _validated(session, merged)
        changes.update(
            {
                field: validated[field]
                for field in (*CONNECTION_FIELDS, "kind")
                if field in validated
            }
        )
    elif "kind" in changes:
        with contextlib.suppress(registry.UnknownConnector):
            _kind(registry.get(system.connector), changes["kind"])
    changed = changes_of(system, changes)
    if "host" in changed or "port" in changed:
        # A different machine, or a different daemon: the pinned key no longer speaks for it.
        for field in ("host_key", "host_key_fingerprint"):
            if getattr(system, field) is not None:
                changed[field] = {"from": getattr(system, field), "to": None}
                setattr(system, field, None)
    if group_ids is not None:
        changed["groups"] = await _set_groups(session, principal, system, group_ids)
    await session.flush()
    await audit.record_update(session, principal, "system", system, changed)
    await _audit_relaxed(session, principal, system, relaxed_before)
    return system


async def _set_groups(
    session: AsyncSession, principal: Principal, system: System, group_ids: list[uuid.UUID]
) -> dict[str, list[str]]:
    """Make the system's groups exactly `group_ids`; only groups the principal manages may be
    joined or left."""
    current = set(
        (await systems_repo.groups_of(session, [system.id], access.groups_filter(principal))).get(
            system.id, []
        )
    )
    wanted = set(await require_existing(session, SystemGroup, group_ids, "group_ids", "group"))
    for group_id in wanted ^ current:
        if await access.group_level(session, principal, group_id) != GrantLevel.manage:
            raise _field_error("group_ids", f"you do not manage group {group_id}")
    added, removed = sorted(wanted - current), sorted(current - wanted)
    if added:
        await common_repo.add_links(
            session, SystemGroupMember, ("system_id", system.id), "group_id", added
        )
    for group_id in removed:
        await common_repo.remove_link(
            session, SystemGroupMember, ("system_id", system.id), ("group_id", group_id)
        )
    return {"added": [str(g) for g in added], "removed": [str(g) for g in removed]}


async def delete(session: AsyncSession, principal: Principal, system_id: uuid.UUID) -> None:
    system = await _managed(session, principal, system_id)
    details = {"name": system.name, "host": system.host, "connector": system.connector}
    await common_repo.delete(session, system)
    await audit.record(
        session,
        "system.delete",
        actor=principal,
        target_type="system",
        target_id=system_id,
        details=details,
    )


async def pin_host_key(
    session: AsyncSession, principal: Principal, system_id: uuid.UUID, key_text: str, how: str
) -> System:
    """Trust `key_text` as the system's host key from now on (audited with how it was got)."""
    system = await _managed(session, principal, system_id)
    key, fingerprint = _host_key(key_text)
    before = system.host_key_fingerprint
    system.host_key, system.host_key_fingerprint = key, fingerprint
    await session.flush()
    await audit.record(
        session,
        "system.host_key_trust",
        actor=principal,
        target_type="system",
        target_id=system.id,
        details={"name": system.name, "how": how, "from": before, "to": fingerprint},
    )
    return system


# -- bulk import -----------------------------------------------------------------------------

MAX_IMPORT = 10_000


async def import_systems(
    session: AsyncSession, principal: Principal, rows: list[dict[str, Any]]
) -> list[System]:
    """Create every row, or none: each row is checked as a single create would be, names must
    also be unique within the import, and all problems come back at once, by row and field."""
    from app.schemas.systems import SystemCreate

    if not rows:
        raise _field_error("rows", "nothing to import")
    if len(rows) > MAX_IMPORT:
        raise _field_error("rows", f"at most {MAX_IMPORT} systems per import")
    errors: list[dict[str, Any]] = []
    checked: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(rows, start=1):
        try:
            resolved = await _resolve_names(session, raw)
            body = SystemCreate.model_validate(resolved).model_dump()
            first = seen.setdefault(body["name"].lower(), number)
            if first != number:
                raise _field_error("name", f"also used by row {first}")
            await require_unique_name(session, System, body["name"], "system")
            values = await _validated(session, body)
            await _groups_for(session, principal, values["group_ids"])
            if values.get("host_key"):
                _host_key(values["host_key"])
            checked.append(values)
        except ValidationError as exc:
            for error in exc.errors():
                field = ".".join(str(part) for part in error["loc"]) or "row"
                errors.append({"row": number, "field": field, "message": error["msg"]})
        except OrcaError as exc:  # a refused value, an unknown reference, a taken name
            details = exc.details if isinstance(exc.details, list) else [{}]
            for detail in details:
                errors.append(
                    {
                        "row": number,
                        "field": detail.get("field", "row"),
                        "message": detail.get("message", exc.message),
                    }
                )
    if errors:
        raise BadRequest(
            f"{len({e['row'] for e in errors})} of {len(rows)} rows have problems; nothing "
            "was imported",
            details=errors,
        )
    created = []
    for values in checked:
        group_ids = values.pop("group_ids")
        host_key = values.pop("host_key", None)
        system = System(**values)
        if host_key:
            system.host_key, system.host_key_fingerprint = _host_key(host_key)
        await common_repo.add(session, system)
        if group_ids:
            await common_repo.add_links(
                session, SystemGroupMember, ("system_id", system.id), "group_id", group_ids
            )
        created.append(system)
    await audit.record(
        session,
        "system.import",
        actor=principal,
        target_type="system",
        details={"created": len(created), "names": [s.name for s in created][:1000]},
    )
    return created


async def _resolve_names(session: AsyncSession, raw: dict[str, Any]) -> dict[str, Any]:
    """Rows may name their credential and groups instead of giving ids."""
    row = dict(raw)
    credential = row.pop("credential", None)
    if credential:
        found = await systems_repo.id_by_name(session, Credential, str(credential))
        if found is None:
            raise _field_error("credential", f"no credential named {credential!r}")
        row["credential_id"] = found
    groups = row.pop("groups", None)
    if groups is not None and not (
        isinstance(groups, list) and all(isinstance(name, str) for name in groups)
    ):
        raise _field_error("groups", "a list of group names")
    if groups:
        ids = list(row.get("group_ids") or []) if isinstance(row.get("group_ids"), list) else []
        for name in groups:
            found = await systems_repo.id_by_name(session, SystemGroup, str(name))
            if found is None:
                raise _field_error("groups", f"no group named {name!r}")
            ids.append(found)
        row["group_ids"] = ids
    return row


async def record_health(
    session: AsyncSession,
    system_id: uuid.UUID,
    status: HealthStatus,
    error: str | None,
    checked_at: Any,
) -> None:
    await systems_repo.set_health(session, system_id, status, error, checked_at)


LOCALHOST = "localhost"


async def ensure_localhost(session: AsyncSession) -> System | None:
    """A `localhost` system on the local connector, unless one by that name exists."""
    if await systems_repo.id_by_name(session, System, LOCALHOST) is not None:
        return None
    system = await common_repo.add(
        session,
        System(
            name=LOCALHOST,
            description="This machine, through the local connector (as the worker's user).",
            kind=SystemKind.linux,
            connector="local",
            host=LOCALHOST,
            labels={"orca": "local"},
        ),
    )
    await audit.record(
        session,
        "system.create",
        actor_username="orca-up",
        target_type="system",
        target_id=system.id,
        details={"name": LOCALHOST, "connector": "local", "via": "orca up"},
    )
    return system
