"""Schedules: a template launched at the due times of a cron expression in a time zone, as the
schedule's owner, each due time exactly once.

Exactly once, with any number of workers ticking and any of them dying mid-tick: a tick takes
the due schedules with `FOR UPDATE SKIP LOCKED` (two workers never hold the same one), and in
one transaction records a row per due time (unique on schedule and due time), launches the job
and moves `next_run_at` on. A worker that dies before its commit leaves nothing behind, and the
next tick does the whole of it; one that committed has moved `next_run_at`, so nobody redoes
it. The clock is the database's, shared by every worker.

Due times that passed while no worker ran (more than `grace_seconds` late) follow the
schedule's missed-run policy: `skip` records them as missed, `run_once` records them as missed
but runs once for the latest. However many due times a tick finds, it launches at most one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter
from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.policy import GLOBAL_LEVEL, Permission
from app.auth.principal import Principal
from app.core.db import after_commit_count, commit, discard_after_commit
from app.core.errors import BadRequest, Forbidden, NotFound, OrcaError
from app.core.vault import Vault
from app.models import JobTemplate, Schedule, ScheduleRun, User
from app.models.enums import AuditOutcome, MissedRunPolicy, ParameterType, Role, ScheduleRunStatus
from app.repositories import common as common_repo
from app.repositories import schedules as schedules_repo
from app.repositories.pagination import Order, Page, keyset_page, name_sorts
from app.schemas.schedules import ScheduleCreate, ScheduleUpdate
from app.schemas.templates import TemplateLaunch
from app.services import access, audit
from app.services import templates as templates_service
from app.services.common import changes_of, require_unique_name
from app.services.dispatch import Dispatcher
from app.services.executions import FINAL_JOB_STATES

log = logging.getLogger("orca.schedules")

SCHEDULE_SORTS: dict[str, Order] = name_sorts(Schedule)
RUN_SORTS = {
    name: Order.of(name, ScheduleRun.due_at, ScheduleRun.id) for name in ("-due_at", "due_at")
}
MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
# Due times looked at per schedule per tick; a schedule behind by more jumps to the present.
MAX_CATCH_UP = 1000
# Missed due times recorded one by one per tick; any further are summed up in the oldest row.
MAX_MISSED_ROWS = 100
TICK_BATCH = 50
SCHEDULER = "orca-scheduler"


def _field_error(field_name: str, message: str) -> BadRequest:
    return BadRequest(
        f"{field_name}: {message}", details=[{"field": field_name, "message": message}]
    )


# Due times ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cron:
    """A validated cron expression in a time zone."""

    expression: str
    zone: ZoneInfo
    # Fixed hours (`30 2 * * *`, not `*/30 * * * *`): a wall-clock time repeated when the clocks
    # go back runs once, as in cron.
    fixed_hours: bool

    @classmethod
    def parse(cls, expression: str, timezone: str) -> Cron:
        text = " ".join(expression.split())
        if text.startswith("@"):
            if text.lower() not in MACROS:
                raise _field_error("cron", f"unknown macro {text}; use one of {_macros()}")
            text = text.lower()
        elif len(text.split()) != 5:
            raise _field_error(
                "cron",
                "give five fields (minute hour day-of-month month day-of-week) or a macro "
                f"({_macros()}); seconds and years are not supported",
            )
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise _field_error(
                "timezone", f"{timezone!r} is not an IANA time zone (Europe/Berlin, UTC)"
            ) from None
        try:
            hours = croniter(text).expanded[1]
        except (CroniterBadCronError, CroniterError, ValueError) as exc:
            raise _field_error("cron", f"not a cron expression: {exc}") from None
        cron = cls(text, zone, hours != ["*"])
        try:
            cron.next_after(datetime.now(UTC))
        except CroniterBadDateError:
            raise _field_error("cron", "this expression is never due (31 February?)") from None
        return cron

    def next_after(self, moment: datetime) -> datetime:
        """The first due time strictly after `moment`, in UTC."""
        local = moment.astimezone(self.zone)
        times = croniter(self.expression, local)
        while True:
            candidate: datetime = times.get_next(datetime)
            if self.fixed_hours and candidate.replace(tzinfo=None) <= local.replace(tzinfo=None):
                continue  # the same wall-clock time again after the clocks went back
            return candidate.astimezone(UTC)

    def upcoming(self, after: datetime, count: int) -> list[datetime]:
        times: list[datetime] = []
        moment = after
        for _ in range(count):
            moment = self.next_after(moment)
            times.append(moment)
        return times


def _macros() -> str:
    return ", ".join(sorted(MACROS - {"@annually", "@midnight"}))


def cron_of(schedule: Schedule) -> Cron:
    return Cron.parse(schedule.cron, schedule.timezone)


def next_runs(schedule: Schedule, count: int = 5) -> list[datetime]:
    if not schedule.enabled or schedule.next_run_at is None:
        return []
    cron = cron_of(schedule)
    return [schedule.next_run_at, *cron.upcoming(schedule.next_run_at, count - 1)]


# Who may see and manage ------------------------------------------------------------------------


def schedules_filter(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on Schedule: those whose template the principal may see."""
    if principal.role in GLOBAL_LEVEL:
        return true()
    return Schedule.template_id.in_(
        select(JobTemplate.id).where(templates_service.templates_filter(principal))
    )


async def manageable(
    session: AsyncSession, principal: Principal, schedules: Sequence[Schedule]
) -> set[uuid.UUID]:
    """The ids of those the principal may change: their owner, an admin, or whoever may edit
    the schedule's template (with `schedules:manage`)."""
    if not principal.can(Permission.schedules_manage):
        return set()
    if principal.role == Role.admin:
        return {schedule.id for schedule in schedules}
    others = [schedule for schedule in schedules if schedule.owner_id != principal.id]
    templates = await common_repo.get_many(
        session, JobTemplate, list({schedule.template_id for schedule in others})
    )
    rights = await templates_service.rights_of(session, principal, templates)
    return {
        schedule.id
        for schedule in schedules
        if schedule.owner_id == principal.id
        or (schedule.template_id in rights and rights[schedule.template_id].can_edit)
    }


async def can_manage(session: AsyncSession, principal: Principal, schedule: Schedule) -> bool:
    return schedule.id in await manageable(session, principal, [schedule])


async def get(
    session: AsyncSession, principal: Principal, schedule_id: uuid.UUID, *, for_update: bool = False
) -> Schedule:
    schedule = await schedules_repo.get_visible(
        session, schedule_id, schedules_filter(principal), for_update=for_update
    )
    if schedule is None:
        raise await access.out_of_reach(session, principal, Schedule, schedule_id, "schedule")
    return schedule


async def _require_manage(session: AsyncSession, principal: Principal, schedule: Schedule) -> None:
    if await can_manage(session, principal, schedule):
        return
    raise Forbidden(
        f"You may not change the schedule {schedule.name!r}: only its owner, an admin or an "
        "editor of its template may.",
        details={"schedule_id": str(schedule.id)},
        on_rollback=[
            audit.later(
                "access.denied",
                actor=principal,
                outcome=AuditOutcome.denied,
                target_type="schedule",
                target_id=schedule.id,
                details={"action": "schedule.manage", "name": schedule.name},
            )
        ],
    )


async def search(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    sort: str,
    q: str | None = None,
    template_id: uuid.UUID | None = None,
    enabled: bool | None = None,
) -> Page[Schedule]:
    stmt = schedules_repo.search(
        visible=schedules_filter(principal), q=q, template_id=template_id, enabled=enabled
    )
    return await keyset_page(session, stmt, SCHEDULE_SORTS[sort], limit=limit, cursor=cursor)


async def runs(
    session: AsyncSession,
    principal: Principal,
    schedule_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
    sort: str = "-due_at",
    status: list[ScheduleRunStatus] | None = None,
) -> Page[ScheduleRun]:
    schedule = await get(session, principal, schedule_id)
    stmt = schedules_repo.runs(schedule.id, status=status)
    return await keyset_page(session, stmt, RUN_SORTS[sort], limit=limit, cursor=cursor)


# Saving ----------------------------------------------------------------------------------------


async def _template_for_launch(
    session: AsyncSession, principal: Principal, reference: str
) -> JobTemplate:
    """The template named, visible to and launchable by the principal."""
    try:
        template_id = uuid.UUID(reference)
    except ValueError:
        found = await schedules_repo.template_id_by_name(
            session, reference, templates_service.templates_filter(principal)
        )
        if found is None:
            raise _field_error("template", f"no template named {reference!r}") from None
        template_id = found
    try:
        template, rights = await templates_service.get(session, principal, template_id)
    except NotFound:
        raise _field_error("template", f"no template with id {reference}") from None
    if not rights.can_launch:
        raise Forbidden(
            f"You may not launch the template {template.name!r}, so you may not schedule it.",
            details={"template_id": str(template.id), "needs": "launch"},
        )
    return template


def _split_values(
    template: JobTemplate, given: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The schedule's values checked against the template now: (plain values, secret ones)."""
    parameters = templates_service.parameters_of(template)
    values = templates_service.resolve_values(parameters, given)
    secret_names = {each.name for each in parameters if each.type == ParameterType.secret}
    plain = {name: given[name] for name in given if name not in secret_names}
    secrets = {name: str(given[name]) for name in given if name in secret_names}
    del values  # resolved only to refuse bad or missing values now, not at the first due time
    return plain, secrets


async def create(
    session: AsyncSession,
    dispatcher: Dispatcher,
    vault: Vault,
    principal: Principal,
    body: ScheduleCreate,
) -> Schedule:
    await require_unique_name(session, Schedule, body.name, "schedule")
    cron = Cron.parse(body.cron, body.timezone)
    template = await _template_for_launch(session, principal, body.template)
    plain, secrets = _split_values(template, body.parameters)
    now = await _now(session)
    schedule = await common_repo.add(
        session,
        Schedule(
            name=body.name,
            description=body.description,
            template_id=template.id,
            cron=cron.expression,
            timezone=body.timezone,
            enabled=body.enabled,
            parameters=plain,
            secrets_sealed=vault.seal(secrets) if secrets else None,
            missed_policy=body.missed_policy,
            grace_seconds=body.grace_seconds,
            skip_if_running=body.skip_if_running,
            next_run_at=cron.next_after(now) if body.enabled else None,
            owner_id=principal.id,
            owner_username=principal.username,
        ),
    )
    await audit.record(
        session,
        "schedule.create",
        actor=principal,
        target_type="schedule",
        target_id=schedule.id,
        details={**_audit_details(schedule), "sealed_parameters": sorted(secrets)},
    )
    return schedule


_RUN_DEFINING = {"template", "parameters", "cron", "timezone"}


async def update(
    session: AsyncSession,
    dispatcher: Dispatcher,
    vault: Vault,
    principal: Principal,
    schedule_id: uuid.UUID,
    body: ScheduleUpdate,
) -> Schedule:
    schedule = await get(session, principal, schedule_id, for_update=True)
    await _require_manage(session, principal, schedule)
    fields = body.model_fields_set
    if body.name is not None and body.name.lower() != schedule.name.lower():
        await require_unique_name(session, Schedule, body.name, "schedule", exclude=schedule.id)
    cron = Cron.parse(body.cron or schedule.cron, body.timezone or schedule.timezone)
    values: dict[str, Any] = {
        each: getattr(body, each)
        for each in (
            "name",
            "description",
            "timezone",
            "enabled",
            "missed_policy",
            "grace_seconds",
            "skip_if_running",
        )
        if each in fields
    }
    values["cron"] = cron.expression
    if fields & _RUN_DEFINING:
        # What runs, or when, changes: it runs as whoever changed it, who must be able to
        # launch it now.
        template = await _template_for_launch(
            session, principal, body.template or str(schedule.template_id)
        )
        stored = _stored_values(schedule, vault)
        if body.parameters is None:
            given = stored
        else:
            # Secret values are write-only, so a form cannot send them back: those left out
            # keep their stored value (for parameters the template still calls secret).
            secret = {
                each.name
                for each in templates_service.parameters_of(template)
                if each.type == ParameterType.secret
            }
            kept = {name: stored[name] for name in secret & set(stored)}
            given = {**kept, **body.parameters}
        plain, secrets = _split_values(template, given)
        values.update(
            template_id=template.id,
            parameters=plain,
            owner_id=principal.id,
            owner_username=principal.username,
        )
        schedule.secrets_sealed = vault.seal(secrets) if secrets else None
    changed = changes_of(schedule, values)
    if {"cron", "timezone", "enabled"} & set(changed):
        schedule.next_run_at = cron.next_after(await _now(session)) if schedule.enabled else None
    if changed:
        await session.flush()
        action = (
            "schedule.enable"
            if set(changed) == {"enabled"} and schedule.enabled
            else "schedule.disable"
            if set(changed) == {"enabled"}
            else None
        )
        if action:
            await audit.record(
                session,
                action,
                actor=principal,
                target_type="schedule",
                target_id=schedule.id,
                details={"name": schedule.name},
            )
        else:
            await audit.record_update(session, principal, "schedule", schedule, changed)
    return schedule


async def delete(session: AsyncSession, principal: Principal, schedule_id: uuid.UUID) -> None:
    schedule = await get(session, principal, schedule_id, for_update=True)
    await _require_manage(session, principal, schedule)
    await audit.record(
        session,
        "schedule.delete",
        actor=principal,
        target_type="schedule",
        target_id=schedule.id,
        details=_audit_details(schedule),
    )
    await common_repo.delete(session, schedule)


def _stored_values(schedule: Schedule, vault: Vault) -> dict[str, Any]:
    secrets = vault.open(schedule.secrets_sealed) if schedule.secrets_sealed else {}
    return {**schedule.parameters, **secrets}


def secret_names(schedule: Schedule, vault: Vault) -> list[str]:
    return sorted(vault.open(schedule.secrets_sealed)) if schedule.secrets_sealed else []


def _audit_details(schedule: Schedule) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "template_id": str(schedule.template_id),
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "enabled": schedule.enabled,
        "parameters": schedule.parameters,
        "missed_policy": schedule.missed_policy.value,
        "grace_seconds": schedule.grace_seconds,
    }


async def _now(session: AsyncSession) -> datetime:
    """The database's clock: the one every worker and API replica agrees on."""
    moment = await session.scalar(select(func.clock_timestamp()))
    assert isinstance(moment, datetime)
    return moment


# Dispatching -----------------------------------------------------------------------------------


@dataclass
class Tick:
    launched: int = 0
    missed: int = 0
    skipped: int = 0
    failed: int = 0
    schedules: int = 0
    jobs: list[uuid.UUID] = field(default_factory=list)


async def dispatch_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    dispatcher: Dispatcher,
    vault: Vault,
    *,
    now: datetime | None = None,
    batch: int = TICK_BATCH,
) -> Tick:
    """One tick: every schedule due by now, each in a batch committed on its own."""
    tick = Tick()
    while True:
        async with sessionmaker() as session:
            moment = now or await _now(session)
            due = await schedules_repo.lock_due(session, moment, batch)
            for schedule in due:
                await _dispatch(session, dispatcher, vault, schedule, moment, tick)
            await commit(session)
        tick.schedules += len(due)
        if len(due) < batch:
            return tick


async def _dispatch(
    session: AsyncSession,
    dispatcher: Dispatcher,
    vault: Vault,
    schedule: Schedule,
    now: datetime,
    tick: Tick,
) -> None:
    try:
        cron = cron_of(schedule)
    except BadRequest as exc:  # a time zone that left the tz database, say
        schedule.enabled = False
        schedule.next_run_at = None
        await _record(session, schedule, now, ScheduleRunStatus.failed, message=exc.message)
        tick.failed += 1
        return
    assert schedule.next_run_at is not None
    due: list[datetime] = []
    moment = schedule.next_run_at
    while moment <= now and len(due) < MAX_CATCH_UP:
        due.append(moment)
        moment = cron.next_after(moment)
    schedule.next_run_at = moment if moment > now else cron.next_after(now)
    grace = timedelta(seconds=schedule.grace_seconds)
    latest = due[-1]
    late = now - latest > grace
    run = latest if not late or schedule.missed_policy == MissedRunPolicy.run_once else None
    missed = [each for each in due if each != run]
    await _record_missed(session, schedule, missed, now, len(due) >= MAX_CATCH_UP)
    tick.missed += len(missed)
    if run is not None:
        await _run(session, dispatcher, vault, schedule, run, now, late, tick)


async def _record_missed(
    session: AsyncSession,
    schedule: Schedule,
    missed: Sequence[datetime],
    now: datetime,
    gave_up: bool,
) -> None:
    if not missed:
        return
    kept = list(missed[-MAX_MISSED_ROWS:])
    earlier = len(missed) - len(kept)
    for index, due_at in enumerate(kept):
        late_by = int((now - due_at).total_seconds())
        message = f"no worker dispatched it within the grace period (late by {late_by}s)"
        if index == 0 and (earlier or gave_up):
            message += f"; {earlier} earlier due time(s) not listed" + (
                ", and more before them" if gave_up else ""
            )
        await _record(session, schedule, due_at, ScheduleRunStatus.missed, message=message)
    await _audit_failure(
        session,
        schedule,
        "schedule.missed",
        missed=len(missed),
        first_due_at=missed[0].isoformat(),
        last_due_at=missed[-1].isoformat(),
        policy=schedule.missed_policy.value,
    )


async def _record(
    session: AsyncSession,
    schedule: Schedule,
    due_at: datetime,
    status: ScheduleRunStatus,
    *,
    job_id: uuid.UUID | None = None,
    message: str | None = None,
) -> uuid.UUID | None:
    """One row for this due time (its id), or None when it already has one: then it was
    dispatched already, and nothing more may happen for it."""
    result = await session.execute(
        insert(ScheduleRun)
        .values(
            id=uuid.uuid4(),
            schedule_id=schedule.id,
            due_at=due_at,
            status=status,
            job_id=job_id,
            message=message,
        )
        .on_conflict_do_nothing(index_elements=["schedule_id", "due_at"])
        .returning(ScheduleRun.id)
    )
    return result.scalar_one_or_none()


async def _run(
    session: AsyncSession,
    dispatcher: Dispatcher,
    vault: Vault,
    schedule: Schedule,
    due_at: datetime,
    now: datetime,
    late: bool,
    tick: Tick,
) -> None:
    schedule.last_run_at = now
    late_by = int((now - due_at).total_seconds())
    # The due time is claimed before anything is launched: a row for it already there (a
    # restored database, a clock set back) means it was dispatched, and it is not again.
    run_id = await _record(
        session,
        schedule,
        due_at,
        ScheduleRunStatus.launched,
        message=f"late by {late_by}s, run by the missed-run policy" if late else None,
    )
    if run_id is None:
        log.warning("schedule %s: due time %s was dispatched already", schedule.id, due_at)
        return
    if schedule.skip_if_running:
        running = await schedules_repo.last_job_running(
            session, schedule.id, FINAL_JOB_STATES, before=due_at
        )
        if running is not None:
            await schedules_repo.finish_run(
                session,
                run_id,
                ScheduleRunStatus.skipped,
                job_id=running,
                message="the job it launched last is still running",
            )
            tick.skipped += 1
            return
    owner = await _owner(session, schedule)
    mark = after_commit_count(session)
    savepoint = await session.begin_nested()
    try:
        if owner is None:
            raise Forbidden(
                "its owner's account is deleted or deactivated: whoever saves the schedule "
                "next becomes its owner"
            )
        submitted = await templates_service.launch(
            session,
            dispatcher,
            vault,
            owner,
            schedule.template_id,
            TemplateLaunch(parameters=schedule.parameters),
            secrets=vault.open(schedule.secrets_sealed) if schedule.secrets_sealed else None,
            origin=templates_service.Origin(schedule.id, due_at.isoformat()),
        )
        await savepoint.commit()
    except OrcaError as exc:
        await savepoint.rollback()
        discard_after_commit(session, keep=mark)
        await _failed(session, schedule, run_id, due_at, exc)
        tick.failed += 1
        return
    await schedules_repo.finish_run(
        session, run_id, ScheduleRunStatus.launched, job_id=submitted.job.id
    )
    tick.launched += 1
    tick.jobs.append(submitted.job.id)


async def _owner(session: AsyncSession, schedule: Schedule) -> Principal | None:
    user = (
        await common_repo.get_by_id(session, User, schedule.owner_id)
        if schedule.owner_id is not None
        else None
    )
    if user is None or not user.is_active:
        return None
    return Principal(
        id=user.id,
        username=user.username,
        role=user.role,
        session_id=uuid.uuid4(),
        token_version=user.token_version,
    )


async def _failed(
    session: AsyncSession,
    schedule: Schedule,
    run_id: uuid.UUID,
    due_at: datetime,
    error: OrcaError,
) -> None:
    reason = error.message
    await schedules_repo.finish_run(
        session, run_id, ScheduleRunStatus.failed, message=reason[:2000]
    )
    await _audit_failure(
        session,
        schedule,
        "schedule.failed",
        due_at=due_at.isoformat(),
        owner=schedule.owner_username,
        reason=reason[:2000],
    )
    log.warning("schedule %s could not launch at %s: %s", schedule.id, due_at, reason)


async def _audit_failure(
    session: AsyncSession, schedule: Schedule, action: str, **details: Any
) -> None:
    """What the scheduler could not do, in the audit log, under its own name."""
    await audit.record(
        session,
        action,
        actor_username=SCHEDULER,
        outcome=AuditOutcome.failure,
        target_type="schedule",
        target_id=schedule.id,
        details={"name": schedule.name, **details},
    )


async def last_runs(
    session: AsyncSession, schedules: Sequence[Schedule]
) -> dict[uuid.UUID, ScheduleRun]:
    return await schedules_repo.last_runs(session, [schedule.id for schedule in schedules])


async def template_names(
    session: AsyncSession, schedules: Sequence[Schedule]
) -> dict[uuid.UUID, str]:
    rows = await common_repo.get_many(
        session, JobTemplate, list({schedule.template_id for schedule in schedules})
    )
    return {row.id: row.name for row in rows}
