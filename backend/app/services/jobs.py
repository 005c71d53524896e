"""Jobs: submitted, listed, cancelled, rerun and duplicated, within what each user may reach.

Who sees a job: its author, admins and auditors, and anyone who can view one of its systems
(they see the executions on the systems they can view). Who runs one: a user with `jobs:run`
holding `execute` on every target, checked when it is submitted (403 naming the systems beyond
reach, audited). Who stops or reruns one: its author, or someone holding `execute` on every
system it touches.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.policy import GLOBAL_LEVEL, LEVEL_RANK
from app.auth.principal import Principal
from app.connectors import registry
from app.core.config import Settings
from app.core.db import after_commit
from app.core.errors import BadRequest, Conflict, NotFound
from app.core.vault import Vault
from app.models import Execution, Job, OutputChunk, System, SystemGroup, SystemGroupMember
from app.models.enums import (
    DEFAULT_SHELL,
    ExecutionStatus,
    GrantLevel,
    OutputStream,
    Shell,
    SystemKind,
)
from app.repositories import common as common_repo
from app.repositories import executions as executions_repo
from app.repositories import jobs as jobs_repo
from app.repositories import output as output_repo
from app.repositories.pagination import Order, Page, keyset_page
from app.schemas.jobs import JobCreate, JobDuplicate, TargetPreview, Targets, TargetSystem
from app.services import access, audit, events
from app.services.dispatch import Dispatcher
from app.services.executions import FINAL_JOB_STATES, settle

SHELL_KIND = {
    Shell.sh: SystemKind.linux,
    Shell.bash: SystemKind.linux,
    Shell.cmd: SystemKind.windows,
    Shell.powershell: SystemKind.windows,
}
JOB_SORTS = {
    name: Order.of(name, getattr(Job, name.lstrip("-")), Job.id)
    for name in ("created_at", "-created_at", "priority", "-priority", "name", "-name")
}
EXECUTION_SORTS = {
    "position": Order.of("position", Execution.position, Execution.id),
    "-position": Order.of("-position", Execution.position, Execution.id),
    "system_name": Order.of("system_name", Execution.system_name, Execution.id),
    "-system_name": Order.of("-system_name", Execution.system_name, Execution.id),
    "finished_at": Order.of("finished_at", Execution.finished_at, Execution.id),
}
FAILED_STATES = (ExecutionStatus.failed, ExecutionStatus.timed_out, ExecutionStatus.error)
OUTPUT_PAGE_BYTES = 4 * 1024 * 1024
PREVIEW_SYSTEMS = 100


def _field_error(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", details=[{"field": field, "message": message}])


# Who sees what --------------------------------------------------------------------------------


def _visible_system_ids(principal: Principal) -> Any:
    return select(System.id).where(access.systems_filter(principal, GrantLevel.view))


def jobs_filter(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on Job: the jobs the principal may see."""
    if principal.role in GLOBAL_LEVEL:
        return true()
    return or_(
        Job.created_by_id == principal.id,
        exists().where(
            Execution.job_id == Job.id,
            Execution.system_id.in_(_visible_system_ids(principal)),
        ),
    )


def sees_every_execution(principal: Principal, job: Job) -> bool:
    return principal.role in GLOBAL_LEVEL or job.created_by_id == principal.id


def executions_filter(principal: Principal, job: Job) -> ColumnElement[bool]:
    """A WHERE clause on the job's executions: those the principal may see."""
    if sees_every_execution(principal, job):
        return true()
    return Execution.system_id.in_(_visible_system_ids(principal))


def visible_executions_filter(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on Execution across jobs: those of the principal's own jobs, and those on
    systems they can view (the rule the job pages apply, job by job)."""
    if principal.role in GLOBAL_LEVEL:
        return true()
    return or_(
        Execution.job_id.in_(select(Job.id).where(Job.created_by_id == principal.id)),
        Execution.system_id.in_(_visible_system_ids(principal)),
    )


async def get(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> Job:
    job = await jobs_repo.get_visible(session, job_id, jobs_filter(principal))
    if job is None:
        raise await access.out_of_reach(session, principal, Job, job_id, "job")
    return job


async def get_execution(
    session: AsyncSession, principal: Principal, execution_id: uuid.UUID
) -> tuple[Execution, Job]:
    missing = NotFound(f"no execution with id {execution_id}")
    execution = await common_repo.get_by_id(session, Execution, execution_id)
    if execution is None:
        raise missing
    job = await jobs_repo.get_visible(session, execution.job_id, jobs_filter(principal))
    visible = (
        await executions_repo.get_visible(session, execution_id, executions_filter(principal, job))
        if job is not None
        else None
    )
    if job is None or visible is None:
        raise await access.out_of_reach(session, principal, Execution, execution_id, "execution")
    return visible, job


# Targets ---------------------------------------------------------------------------------------


def _split(references: Sequence[str]) -> tuple[list[uuid.UUID], list[str]]:
    ids: list[uuid.UUID] = []
    names: list[str] = []
    for reference in references:
        try:
            ids.append(uuid.UUID(reference))
        except ValueError:
            names.append(reference)
    return ids, names


async def resolve_targets(
    session: AsyncSession, principal: Principal, targets: Targets, limit: int
) -> list[System]:
    """The systems `targets` names, in order (named systems first, then group members and
    label matches by name), each once, every one of them within the principal's `execute`
    (403 naming the others, audited)."""
    systems = await match_targets(session, principal, targets, limit)
    if not systems:
        raise _field_error("targets", "no system matches these targets")
    await access.require_systems(
        session,
        principal,
        [system.id for system in systems],
        GrantLevel.execute,
        "run a job on them",
    )
    return systems


async def preview_targets(
    session: AsyncSession, principal: Principal, targets: Targets, limit: int
) -> TargetPreview:
    """What `targets` would match now, for a job form's live count: the systems, and which
    of them the principal may not run on (a submit would be refused for those)."""
    systems = await match_targets(session, principal, targets, limit)
    levels = await access.system_levels(session, principal, [system.id for system in systems])
    beyond = [
        system.name
        for system in systems
        if (level := levels.get(system.id)) is None
        or LEVEL_RANK[level] < LEVEL_RANK[GrantLevel.execute]
    ]
    kinds: dict[str, int] = {}
    for system in systems:
        kinds[system.kind.value] = kinds.get(system.kind.value, 0) + 1
    return TargetPreview(
        count=len(systems),
        kinds=kinds,
        systems=[TargetSystem.model_validate(system) for system in systems[:PREVIEW_SYSTEMS]],
        beyond_reach=beyond[:PREVIEW_SYSTEMS],
        beyond_reach_count=len(beyond),
    )


async def match_targets(
    session: AsyncSession, principal: Principal, targets: Targets, limit: int
) -> list[System]:
    """The systems `targets` names, in order, each once, possibly none. Groups, names and
    labels are looked up only among what the principal can see; an id they cannot see is
    refused (403) with the same words as one beyond reach."""
    chosen: dict[uuid.UUID, System] = {}
    visible = access.systems_filter(principal, GrantLevel.view)
    ids, names = _split(targets.systems)
    explicit = {system.id: system for system in await common_repo.get_many(session, System, ids)}
    named = {
        system.name.lower(): system for system in await _lookup(session, System, [], names, visible)
    }
    for reference in targets.systems:
        system = None
        try:
            system_id = uuid.UUID(reference)
        except ValueError:
            system = named.get(reference.lower())
            if system is None:
                raise _field_error(
                    "targets.systems", f"no system named {json.dumps(reference)}"
                ) from None
        else:
            system = explicit.get(system_id)
            if system is None:
                # Unknown or not visible: refused with the same words as one beyond reach.
                await access.require_systems(
                    session, principal, [system_id], GrantLevel.execute, "run a job on them"
                )
                continue
        chosen.setdefault(system.id, system)

    if targets.groups:
        group_ids, group_names = _split(targets.groups)
        group_visible = access.groups_filter(principal, GrantLevel.view)
        groups = {
            group.id: group
            for group in await _lookup(session, SystemGroup, group_ids, group_names, group_visible)
        }
        by_name = {group.name.lower(): group for group in groups.values()}
        for reference in targets.groups:
            try:
                found = uuid.UUID(reference) in groups
            except ValueError:
                found = reference.lower() in by_name
            if not found:
                raise _field_error("targets.groups", f"no group {json.dumps(reference)}")
        result = await session.execute(
            select(System)
            .join(SystemGroupMember, SystemGroupMember.system_id == System.id)
            .where(SystemGroupMember.group_id.in_(list(groups)))
            .order_by(System.name)
        )
        for system in result.scalars():
            chosen.setdefault(system.id, system)

    for selector in targets.labels:
        result = await session.execute(
            select(System).where(System.labels.contains(selector), visible).order_by(System.name)
        )
        for system in result.scalars():
            chosen.setdefault(system.id, system)
        if len(chosen) > limit:
            break

    if len(chosen) > limit:
        raise _field_error("targets", f"matches more than {limit} systems (ORCA_JOB_MAX_TARGETS)")
    return list(chosen.values())


async def _lookup(
    session: AsyncSession,
    model: type[Any],
    ids: list[uuid.UUID],
    names: list[str],
    visible: ColumnElement[bool],
) -> list[Any]:
    """Rows of `model` among `visible` with one of these ids or names (names without case)."""
    clauses = []
    if ids:
        clauses.append(model.id.in_(ids))
    if names:
        clauses.append(func.lower(model.name).in_([n.lower() for n in names]))
    if not clauses:
        return []
    result = await session.execute(select(model).where(or_(*clauses), visible))
    return list(result.scalars())


def check_shell(systems: Sequence[System], shell: Shell | None) -> None:
    """Every system can run `shell` (or, with none, its kind's default shell): its kind
    matches, and its connector has that shell."""
    if shell is not None:
        kind = SHELL_KIND[shell]
        wrong_kind = [system.name for system in systems if system.kind != kind]
        if wrong_kind:
            raise _field_error(
                "shell",
                f"{shell.value} runs on {kind.value} systems; not on {_names(wrong_kind)}",
            )
    installed = registry.available()
    unable = [
        system.name
        for system in systems
        if system.connector not in installed
        or (shell or DEFAULT_SHELL[system.kind]) not in installed[system.connector].shells
    ]
    if unable:
        what = shell.value if shell is not None else "its default shell"
        raise _field_error("shell", f"the connector of {_names(unable)} cannot run {what}")


def _names(names: list[str], most: int = 10) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


# Submitting ------------------------------------------------------------------------------------


def request_hash(settings: Settings, body: dict[str, Any]) -> str:
    """What an Idempotency-Key is bound to. Keyed, because the body holds environment values
    that may be secrets and the hash is stored."""
    assert settings.jwt_secret is not None
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(
        settings.jwt_secret.get_secret_value().encode(), b"orca-job:" + canonical, hashlib.sha256
    ).hexdigest()


def default_name(command: str) -> str:
    lines = [line.strip() for line in command.splitlines()]
    useful = [line for line in lines if line and not line.startswith("#")]
    return (useful[0] if useful else lines[0] if lines else "job")[:200] or "job"


@dataclass(frozen=True)
class Submitted:
    job: Job
    created: bool


async def submit(
    session: AsyncSession,
    dispatcher: Dispatcher,
    vault: Vault,
    principal: Principal,
    body: JobCreate,
    idempotency_key: str | None = None,
    origin: Mapping[str, Any] | None = None,
) -> Submitted:
    """Create the job and its executions (one per target system, in order). `origin` holds the
    template (and version, schedule, parameters) a launch made it from."""
    settings = dispatcher.settings
    digest = None
    if idempotency_key is not None:
        digest = request_hash(settings, body.model_dump(mode="json"))
        # One submission per key at a time, so two racing requests cannot both create a job.
        await session.execute(
            select(
                func.pg_advisory_xact_lock(
                    func.hashtextextended(f"{principal.id}:{idempotency_key}", 0)
                )
            )
        )
        earlier = await jobs_repo.by_idempotency_key(session, principal.id, idempotency_key)
        if earlier is not None:
            if earlier.request_hash != digest:
                raise Conflict(
                    "Idempotency-Key was already used for a different request",
                    details={"job_id": str(earlier.id)},
                )
            return Submitted(earlier, created=False)
    systems = await resolve_targets(session, principal, body.targets, settings.job_max_targets)
    check_shell(systems, body.shell)
    command = body.command if body.command is not None else body.script
    assert command is not None
    job = await _create(
        session,
        dispatcher,
        principal,
        systems,
        name=body.name or default_name(command),
        command=body.command,
        script=body.script,
        shell=body.shell,
        targets=body.targets.model_dump(mode="json", exclude_defaults=True),
        timeout_seconds=body.timeout_seconds,
        priority=body.priority,
        concurrency=body.concurrency,
        failure_threshold_count=body.failure_threshold.count if body.failure_threshold else None,
        failure_threshold_percent=(
            body.failure_threshold.percent if body.failure_threshold else None
        ),
        environment_keys=sorted(body.environment),
        environment_sealed=vault.seal(body.environment) if body.environment else None,
        working_directory=body.working_directory,
        max_attempts=body.retries.attempts if body.retries else 1,
        retry_backoff_seconds=body.retries.backoff_seconds if body.retries else 0,
        idempotency_key=idempotency_key,
        request_hash=digest,
        **(origin or {}),
    )
    launched = (
        {"template_id": str(job.template_id), "schedule_id": _text(job.schedule_id)}
        if job.template_id
        else {}
    )
    await audit.record(
        session,
        "job.create",
        actor=principal,
        target_type="job",
        target_id=job.id,
        details=_audit_details(job, **launched),
    )
    return Submitted(job, created=True)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _audit_details(job: Job, **extra: Any) -> dict[str, Any]:
    text = job.command if job.command is not None else job.script or ""
    return {
        "name": job.name,
        "shell": job.shell.value if job.shell is not None else None,
        # What ran, for the record: the command itself, or a script's size and digest.
        **(
            {"command": text[:2000]}
            if job.command is not None
            else {
                "script_bytes": len(text.encode()),
                "script_sha256": hashlib.sha256(text.encode()).hexdigest(),
            }
        ),
        "targets": job.targets,
        "target_count": job.target_count,
        "environment_keys": job.environment_keys,
        "working_directory": job.working_directory,
        "timeout_seconds": job.timeout_seconds,
        "priority": job.priority,
        **extra,
    }


async def _create(
    session: AsyncSession,
    dispatcher: Dispatcher,
    principal: Principal,
    systems: Sequence[System],
    **values: Any,
) -> Job:
    job = await common_repo.add(
        session,
        Job(
            created_by_id=principal.id,
            created_by_username=principal.username,
            target_count=len(systems),
            **values,
        ),
    )
    await executions_repo.add_many(
        session,
        [
            {
                "id": uuid.uuid4(),
                "job_id": job.id,
                "system_id": system.id,
                "system_name": system.name,
                "connector": system.connector,
                "position": position,
            }
            for position, system in enumerate(systems, start=1)
        ],
    )
    after_commit(session, lambda: events.publish_executions(dispatcher.redis, [], [job]))
    after_commit(session, dispatcher.ask)
    return job


# Reading -----------------------------------------------------------------------------------


async def search(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    sort: str,
    **filters: Any,
) -> Page[Job]:
    stmt = jobs_repo.search(visible=jobs_filter(principal), **filters)
    return await keyset_page(session, stmt, JOB_SORTS[sort], limit=limit, cursor=cursor)


async def counts(session: AsyncSession, jobs: Sequence[Job]) -> dict[uuid.UUID, dict[str, int]]:
    return await jobs_repo.state_counts(session, [job.id for job in jobs])


async def executions(
    session: AsyncSession,
    principal: Principal,
    job_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
    sort: str,
    status: list[ExecutionStatus] | None = None,
    q: str | None = None,
) -> tuple[Job, Page[Execution]]:
    job = await get(session, principal, job_id)
    stmt = executions_repo.search(job.id, executions_filter(principal, job), status=status, q=q)
    page = await keyset_page(session, stmt, EXECUTION_SORTS[sort], limit=limit, cursor=cursor)
    return job, page


@dataclass(frozen=True)
class OutputSlice:
    execution: Execution
    chunks: list[OutputChunk]
    next_seq: int
    complete: bool


async def output(
    session: AsyncSession,
    principal: Principal,
    execution_id: uuid.UUID,
    *,
    after_seq: int = 0,
    stream: OutputStream | None = None,
    limit: int = 1000,
) -> OutputSlice:
    execution, _ = await get_execution(session, principal, execution_id)
    chunks = await output_repo.chunks(
        session, execution.id, after_seq=after_seq, stream=stream, limit=limit
    )
    size = 0
    for index, chunk in enumerate(chunks):
        size += len(chunk.data)
        if size > OUTPUT_PAGE_BYTES and index > 0:
            chunks = chunks[:index]
            break
    next_seq = chunks[-1].seq if chunks else max(after_seq, 0)
    finished = execution.status not in executions_repo.LIVE
    complete = finished and next_seq >= execution.output_seq
    return OutputSlice(execution, chunks, next_seq, complete)


# Stopping and repeating --------------------------------------------------------------------


async def _require_control(
    session: AsyncSession, principal: Principal, job: Job, system_ids: list[uuid.UUID], action: str
) -> None:
    """The author may stop or repeat their job; anyone else needs execute on its systems."""
    if job.created_by_id == principal.id:
        return
    await access.require_systems(session, principal, system_ids, GrantLevel.execute, action)


async def cancel_job(
    session: AsyncSession, dispatcher: Dispatcher, principal: Principal, job_id: uuid.UUID
) -> Job:
    """Cancel what has not started and stop what runs. Idempotent while the job runs."""
    job = await get(session, principal, job_id)
    await _require_control(
        session,
        principal,
        job,
        await executions_repo.system_ids_of_job(session, job.id),
        "cancel this job",
    )
    locked = await jobs_repo.lock(session, job.id)
    assert locked is not None
    if locked.status in FINAL_JOB_STATES:
        raise Conflict(f"the job has already finished ({locked.status.value})")
    if locked.cancel_requested_at is None:
        changed = await jobs_repo.change(session, job.id, cancel_requested_at=func.now())
        assert changed is not None
        locked = changed
    skipped = await executions_repo.cancel_waiting(
        session,
        job_id=job.id,
        code="cancelled",
        message=f"cancelled by {principal.username} before it started",
    )
    stopping = await executions_repo.request_cancel(session, job_id=job.id)
    await audit.record(
        session,
        "job.cancel",
        actor=principal,
        target_type="job",
        target_id=job.id,
        details={"name": job.name, "not_started": len(skipped), "stopping": len(stopping)},
    )
    settled = await settle(session, job.id)
    result = settled.job or locked
    _announce(session, dispatcher, [*skipped, *stopping, *settled.executions], result, stopping)
    return result


def _announce(
    session: AsyncSession,
    dispatcher: Dispatcher,
    changed: list[Execution],
    job: Job | None,
    stopping: list[Execution],
) -> None:
    after_commit(
        session,
        lambda: events.publish_executions(dispatcher.redis, changed, [job] if job else []),
    )
    if stopping:
        ids = [execution.id for execution in stopping]
        after_commit(session, lambda: events.request_cancel(dispatcher.redis, ids))


async def cancel_execution(
    session: AsyncSession, dispatcher: Dispatcher, principal: Principal, execution_id: uuid.UUID
) -> tuple[Execution, Job]:
    execution, job = await get_execution(session, principal, execution_id)
    await _require_control(
        session,
        principal,
        job,
        [execution.system_id] if execution.system_id else [],
        "cancel this execution",
    )
    await jobs_repo.lock(session, job.id)
    skipped = await executions_repo.cancel_waiting(
        session,
        execution_ids=[execution.id],
        code="cancelled",
        message=f"cancelled by {principal.username} before it started",
    )
    stopping = await executions_repo.request_cancel(session, execution_ids=[execution.id])
    if not skipped and not stopping:
        current = await executions_repo.get(session, execution.id)
        assert current is not None
        if current.status == ExecutionStatus.running:  # already being cancelled
            return current, job
        raise Conflict(f"the execution has already finished ({current.status.value})")
    await audit.record(
        session,
        "execution.cancel",
        actor=principal,
        target_type="execution",
        target_id=execution.id,
        details={
            "job_id": str(job.id),
            "system": execution.system_name,
            "was": "waiting" if skipped else "running",
        },
    )
    settled = await settle(session, job.id)
    _announce(
        session, dispatcher, [*skipped, *stopping, *settled.executions], settled.job, stopping
    )
    return (skipped or stopping)[0], job


async def rerun(
    session: AsyncSession,
    dispatcher: Dispatcher,
    principal: Principal,
    job_id: uuid.UUID,
    only: str,
) -> Job:
    """A new job with the same command and options, on all the systems of this one or only on
    those that failed (or did not succeed)."""
    job = await get(session, principal, job_id)
    rows = await executions_repo.of_job(session, job.id)
    if only == "failed":
        rows = [row for row in rows if row.status in FAILED_STATES]
    elif only == "unsuccessful":
        rows = [
            row
            for row in rows
            if row.status not in executions_repo.LIVE and row.status != ExecutionStatus.succeeded
        ]
    if not rows:
        raise _field_error("only", f"no execution of this job matches {only!r}")
    wanted = [row.system_id for row in rows if row.system_id is not None]
    systems = {system.id: system for system in await common_repo.get_many(session, System, wanted)}
    chosen = [systems[system_id] for system_id in wanted if system_id in systems]
    if not chosen:
        raise _field_error("only", "the systems of those executions have all been deleted")
    await access.require_systems(
        session, principal, [system.id for system in chosen], GrantLevel.execute, "rerun this job"
    )
    check_shell(chosen, job.shell)
    new = await _create(
        session,
        dispatcher,
        principal,
        chosen,
        **_spec(job),
        targets={"systems": [str(system.id) for system in chosen]},
        source_job_id=job.id,
    )
    await audit.record(
        session,
        "job.rerun",
        actor=principal,
        target_type="job",
        target_id=new.id,
        details=_audit_details(new, source_job_id=str(job.id), only=only),
    )
    return new


def _spec(job: Job) -> dict[str, Any]:
    """What a rerun or duplicate copies from a job."""
    return {
        "name": job.name,
        "command": job.command,
        "script": job.script,
        "shell": job.shell,
        "timeout_seconds": job.timeout_seconds,
        "priority": job.priority,
        "concurrency": job.concurrency,
        "failure_threshold_count": job.failure_threshold_count,
        "failure_threshold_percent": job.failure_threshold_percent,
        "environment_keys": list(job.environment_keys),
        "working_directory": job.working_directory,
        "environment_sealed": job.environment_sealed,
        "max_attempts": job.max_attempts,
        "retry_backoff_seconds": job.retry_backoff_seconds,
        # Still the template's command with these values; a person, not the schedule, ran it.
        "template_id": job.template_id,
        "template_version": job.template_version,
        "parameters": job.parameters,
    }


async def duplicate(
    session: AsyncSession,
    dispatcher: Dispatcher,
    principal: Principal,
    job_id: uuid.UUID,
    overrides: JobDuplicate,
) -> Job:
    """A new job like this one, its targets resolved again (or replaced), with overrides."""
    job = await get(session, principal, job_id)
    try:
        targets = overrides.targets or Targets.model_validate(job.targets)
    except ValueError:
        raise _field_error(
            "targets", "this job's targets cannot be resolved again; give new ones"
        ) from None
    systems = await resolve_targets(
        session, principal, targets, dispatcher.settings.job_max_targets
    )
    check_shell(systems, job.shell)
    spec = _spec(job) | overrides.model_dump(exclude_unset=True, exclude={"targets"})
    new = await _create(
        session,
        dispatcher,
        principal,
        systems,
        **spec,
        targets=targets.model_dump(mode="json", exclude_defaults=True),
        source_job_id=job.id,
    )
    await audit.record(
        session,
        "job.create",
        actor=principal,
        target_type="job",
        target_id=new.id,
        details=_audit_details(new, source_job_id=str(job.id)),
    )
    return new
