"""Job templates: saved jobs with typed parameters, shared with teams, launched as jobs.

Who sees a template: its author, admins and auditors, and the members of a team granted it.
Who edits one: a user with `templates:edit` who is its author, an admin, or in a team granted
`edit`, and who holds `execute` on every system it targets (nobody shapes what runs where they
could not run it themselves). Who launches one: a user with `templates:launch` who is its
author, an admin, or in a team granted `launch` or `edit`; the launch is an ordinary job
submitted as that user, so it also needs `execute` on every target. A template narrows what
its launchers run; it never widens where they may run.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.policy import GLOBAL_LEVEL, Permission
from app.auth.principal import Principal
from app.core.errors import BadRequest, Conflict, Forbidden
from app.core.vault import Vault
from app.models import JobTemplate, Schedule
from app.models.enums import AuditOutcome, ParameterType, Role, Shell, TemplateLevel
from app.repositories import common as common_repo
from app.repositories import templates as templates_repo
from app.repositories.pagination import Order, Page, keyset_page, name_sorts
from app.schemas.jobs import MAX_ENV_VARS, JobCreate, Targets
from app.schemas.templates import (
    Parameter,
    ParameterValue,
    TemplateAccess,
    TemplateCreate,
    TemplateLaunch,
    TemplateUpdate,
    coerce_value,
)
from app.services import access, audit
from app.services import jobs as jobs_service
from app.services.common import changes_of, require_unique_name
from app.services.dispatch import Dispatcher

TEMPLATE_SORTS: dict[str, Order] = name_sorts(JobTemplate)
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Shells Orca can quote a text value for; cmd.exe has no quoting that holds for every string.
QUOTING_SHELLS = (Shell.sh, Shell.bash, Shell.powershell)
# PowerShell ends a single-quoted string at any of these quotes; doubling one escapes it.
_POWERSHELL_QUOTES = re.compile("(['\u2018\u2019\u201a\u201b])")


def _field_error(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", details=[{"field": field, "message": message}])


def env_name(parameter: str) -> str:
    return f"ORCA_PARAM_{parameter.upper()}"


# Who may see, edit and launch -----------------------------------------------------------------


def templates_filter(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on JobTemplate: the templates the principal may see."""
    if principal.role in GLOBAL_LEVEL:
        return true()
    return templates_repo.created_or_granted(principal.id)


@dataclass(frozen=True)
class Rights:
    level: TemplateLevel | None
    can_edit: bool
    can_launch: bool


def _rights(principal: Principal, template: JobTemplate, team_levels: set[TemplateLevel]) -> Rights:
    if principal.role == Role.admin or template.created_by_id == principal.id:
        level: TemplateLevel | None = TemplateLevel.edit
    elif TemplateLevel.edit in team_levels:
        level = TemplateLevel.edit
    elif TemplateLevel.launch in team_levels:
        level = TemplateLevel.launch
    else:
        level = None
    return Rights(
        level=level,
        can_edit=level == TemplateLevel.edit and principal.can(Permission.templates_edit),
        can_launch=level is not None and principal.can(Permission.templates_launch),
    )


async def rights_of(
    session: AsyncSession, principal: Principal, templates: Sequence[JobTemplate]
) -> dict[uuid.UUID, Rights]:
    levels = await templates_repo.user_levels(
        session, principal.id, [template.id for template in templates]
    )
    return {
        template.id: _rights(principal, template, levels.get(template.id, set()))
        for template in templates
    }


async def get(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID, *, for_update: bool = False
) -> tuple[JobTemplate, Rights]:
    template = await templates_repo.get_visible(
        session, template_id, templates_filter(principal), for_update=for_update
    )
    if template is None:
        raise await access.out_of_reach(session, principal, JobTemplate, template_id, "template")
    return template, (await rights_of(session, principal, [template]))[template.id]


def _refuse(principal: Principal, template: JobTemplate, action: str) -> Forbidden:
    return Forbidden(
        f"You may not {action} the template {template.name!r}: ask its author or an admin to "
        f"grant one of your teams {'edit' if action == 'edit' else 'launch'} on it.",
        details={"template_id": str(template.id), "needs": action},
        on_rollback=[
            audit.later(
                "access.denied",
                actor=principal,
                outcome=AuditOutcome.denied,
                target_type="template",
                target_id=template.id,
                details={"action": f"template.{action}", "name": template.name},
            )
        ],
    )


async def grants_of(
    session: AsyncSession, templates: Sequence[JobTemplate]
) -> dict[uuid.UUID, list[tuple[uuid.UUID, str, TemplateLevel]]]:
    return await templates_repo.grants(session, [template.id for template in templates])


async def search(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    sort: str,
    q: str | None = None,
) -> Page[JobTemplate]:
    stmt = templates_repo.search(visible=templates_filter(principal), q=q)
    return await keyset_page(session, stmt, TEMPLATE_SORTS[sort], limit=limit, cursor=cursor)


# Parameters in the command --------------------------------------------------------------------


def check_parameters(
    text: str,
    text_field: str,
    shell: Shell | None,
    parameters: Sequence[Parameter],
    environment_keys: Sequence[str],
) -> None:
    """Every `{{ name }}` in the command names a parameter Orca can place there safely for the
    template's shell, and the parameters' variables fit beside the template's environment."""
    by_name = {parameter.name: parameter for parameter in parameters}
    for name in dict.fromkeys(PLACEHOLDER.findall(text)):
        parameter = by_name.get(name)
        if parameter is None:
            raise _field_error(text_field, f"{{{{ {name} }}}} names no parameter")
        if parameter.type == ParameterType.secret:
            raise _field_error(
                text_field,
                f"secret parameter {name} never goes into the command text; read the "
                f"environment variable {env_name(name)} instead",
            )
        if parameter.type == ParameterType.string and shell not in QUOTING_SHELLS:
            raise _field_error(
                text_field,
                f"string parameter {name} can be placed in the command only with shell sh, "
                f"bash or powershell, which Orca quotes it for; set the shell, or read the "
                f"environment variable {env_name(name)} instead",
            )
    clash = sorted({env_name(each.name) for each in parameters} & set(environment_keys))
    if clash:
        raise _field_error(
            "environment", f"{', '.join(clash)} is set by a parameter of the same name"
        )
    if len(parameters) + len(environment_keys) > MAX_ENV_VARS:
        raise _field_error(
            "parameters",
            f"parameters and environment variables together: at most {MAX_ENV_VARS}",
        )


def _quoted(value: str, shell: Shell | None) -> str:
    if shell == Shell.powershell:
        return "'" + _POWERSHELL_QUOTES.sub(r"\1\1", value) + "'"
    return shlex.quote(value)


def _as_text(value: ParameterValue | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(
    text: str,
    shell: Shell | None,
    parameters: Sequence[Parameter],
    values: Mapping[str, ParameterValue | None],
) -> str:
    """The command with each `{{ name }}` replaced by its value (strings quoted for the shell;
    check_parameters() made sure every placeholder can be)."""
    by_name = {parameter.name: parameter for parameter in parameters}

    def replace(match: re.Match[str]) -> str:
        parameter = by_name[match.group(1)]
        value = values.get(parameter.name)
        if parameter.type == ParameterType.string:
            return _quoted(_as_text(value), shell)
        return _as_text(value)

    return PLACEHOLDER.sub(replace, text)


def resolve_values(
    parameters: Sequence[Parameter], given: Mapping[str, Any], field: str = "parameters"
) -> dict[str, ParameterValue | None]:
    """A value for every parameter: the one given (typed and checked), else its default, else
    None for an optional one; a 400 naming the parameter otherwise."""
    by_name = {parameter.name: parameter for parameter in parameters}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        raise _field_error(f"{field}.{unknown[0]}", "the template has no such parameter")
    values: dict[str, ParameterValue | None] = {}
    for parameter in parameters:
        raw = given.get(parameter.name, parameter.default)
        if raw is None:
            if parameter.required:
                raise _field_error(f"{field}.{parameter.name}", "a value is required")
            values[parameter.name] = None
            continue
        try:
            values[parameter.name] = coerce_value(parameter, raw)
        except ValueError as exc:
            raise _field_error(f"{field}.{parameter.name}", str(exc)) from None
    return values


def shown_values(
    parameters: Sequence[Parameter], values: Mapping[str, ParameterValue | None]
) -> dict[str, ParameterValue | None]:
    """The values fit to show and audit: every one but the secrets."""
    return {
        parameter.name: values.get(parameter.name)
        for parameter in parameters
        if parameter.type != ParameterType.secret
    }


def parameters_of(template: JobTemplate) -> list[Parameter]:
    return [Parameter.model_validate(each) for each in template.parameters]


# Saving ----------------------------------------------------------------------------------------


async def _team_levels(
    session: AsyncSession, entries: Sequence[TemplateAccess]
) -> dict[uuid.UUID, TemplateLevel]:
    ids: list[uuid.UUID] = []
    names: list[str] = []
    for entry in entries:
        try:
            ids.append(uuid.UUID(entry.team))
        except ValueError:
            names.append(entry.team)
    teams = await templates_repo.teams_by_reference(session, ids, names)
    by_id = {team.id: team for team in teams}
    by_name = {team.name.lower(): team for team in teams}
    levels: dict[uuid.UUID, TemplateLevel] = {}
    for index, entry in enumerate(entries):
        try:
            team = by_id.get(uuid.UUID(entry.team))
        except ValueError:
            team = by_name.get(entry.team.lower())
        if team is None:
            raise _field_error(f"access.{index}.team", f"no team {json.dumps(entry.team)}")
        if team.id in levels:
            raise _field_error(f"access.{index}.team", f"team {team.name!r} is named twice")
        levels[team.id] = entry.level
    return levels


async def _check_runnable(
    session: AsyncSession, dispatcher: Dispatcher, principal: Principal, template: JobTemplate
) -> None:
    """The template's targets match systems, the editor may run on every one of them, and each
    can run its shell: what a launch will check again, checked when it is saved."""
    targets = Targets.model_validate(template.targets)
    systems = await jobs_service.resolve_targets(
        session, principal, targets, dispatcher.settings.job_max_targets
    )
    jobs_service.check_shell(systems, template.shell)
    command = template.command if template.command is not None else template.script
    assert command is not None
    check_parameters(
        command,
        "command" if template.command is not None else "script",
        template.shell,
        parameters_of(template),
        template.environment_keys,
    )


def _spec_values(body: TemplateCreate | TemplateUpdate, fields: set[str]) -> dict[str, Any]:
    """Column values for the job-shaped fields given in `body`."""
    values: dict[str, Any] = {}
    simple = (
        "name",
        "description",
        "shell",
        "timeout_seconds",
        "priority",
        "concurrency",
        "working_directory",
    )
    for field in simple:
        if field in fields:
            values[field] = getattr(body, field)
    if "command" in fields and body.command is not None:
        values.update(command=body.command, script=None)
    if "script" in fields and body.script is not None:
        values.update(script=body.script, command=None)
    if "targets" in fields and body.targets is not None:
        values["targets"] = body.targets.model_dump(mode="json", exclude_defaults=True)
    if "failure_threshold" in fields:
        threshold = body.failure_threshold
        values["failure_threshold_count"] = threshold.count if threshold else None
        values["failure_threshold_percent"] = threshold.percent if threshold else None
    if "retries" in fields:
        values["max_attempts"] = body.retries.attempts if body.retries else 1
        values["retry_backoff_seconds"] = body.retries.backoff_seconds if body.retries else 0
    if "parameters" in fields and body.parameters is not None:
        values["parameters"] = [
            each.model_dump(mode="json", exclude_none=True) for each in body.parameters
        ]
    return values


async def create(
    session: AsyncSession,
    dispatcher: Dispatcher,
    vault: Vault,
    principal: Principal,
    body: TemplateCreate,
) -> JobTemplate:
    await require_unique_name(session, JobTemplate, body.name, "template")
    values = _spec_values(body, set(type(body).model_fields))
    template = JobTemplate(
        **values,
        environment_keys=sorted(body.environment),
        environment_sealed=vault.seal(body.environment) if body.environment else None,
        created_by_id=principal.id,
        created_by_username=principal.username,
    )
    await _check_runnable(session, dispatcher, principal, template)
    levels = await _team_levels(session, body.access)
    template = await common_repo.add(session, template)
    await templates_repo.replace_grants(session, template.id, levels)
    await audit.record(
        session,
        "template.create",
        actor=principal,
        target_type="template",
        target_id=template.id,
        details={**_audit_details(template), "access": _access_details(levels)},
    )
    return template


async def update(
    session: AsyncSession,
    dispatcher: Dispatcher,
    vault: Vault,
    principal: Principal,
    template_id: uuid.UUID,
    body: TemplateUpdate,
) -> JobTemplate:
    template, rights = await get(session, principal, template_id, for_update=True)
    if not rights.can_edit:
        raise _refuse(principal, template, "edit")
    fields = set(body.model_fields_set)
    if body.name is not None and body.name.lower() != template.name.lower():
        await require_unique_name(session, JobTemplate, body.name, "template", exclude=template.id)
    changed = changes_of(template, _spec_values(body, fields))
    if body.environment is not None:
        keys_before = list(template.environment_keys)
        template.environment_keys = sorted(body.environment)
        template.environment_sealed = vault.seal(body.environment) if body.environment else None
        # Values are write-only: the record says which variables, and that they were replaced.
        changed["environment"] = {"from": keys_before, "to": template.environment_keys}
    if body.access is not None:
        levels = await _team_levels(session, body.access)
        before = await templates_repo.grants(session, [template.id])
        before_levels = {team_id: level for team_id, _, level in before.get(template.id, [])}
        if before_levels != levels:
            await templates_repo.replace_grants(session, template.id, levels)
            changed["access"] = {
                "from": _access_details(before_levels),
                "to": _access_details(levels),
            }
    # Whatever changed, the editor must be able to run the template as it now stands.
    await _check_runnable(session, dispatcher, principal, template)
    if changed:
        template.version += 1
        await session.flush()
        await audit.record_update(
            session, principal, "template", template, changed, version=template.version
        )
    return template


async def delete(session: AsyncSession, principal: Principal, template_id: uuid.UUID) -> None:
    template, rights = await get(session, principal, template_id, for_update=True)
    if not rights.can_edit:
        raise _refuse(principal, template, "edit")
    schedules = list(
        (
            await session.execute(
                select(Schedule.name).where(Schedule.template_id == template.id).limit(11)
            )
        ).scalars()
    )
    if schedules:
        shown = ", ".join(schedules[:10]) + (" and more" if len(schedules) > 10 else "")
        raise Conflict(
            f"the template has schedules ({shown}); delete them first",
            details={"schedules": schedules[:10]},
        )
    await audit.record(
        session,
        "template.delete",
        actor=principal,
        target_type="template",
        target_id=template.id,
        details={"name": template.name, "version": template.version},
    )
    await common_repo.delete(session, template)


def _access_details(levels: Mapping[uuid.UUID, TemplateLevel]) -> dict[str, str]:
    return {str(team_id): level.value for team_id, level in levels.items()}


def _audit_details(template: JobTemplate) -> dict[str, Any]:
    return {
        "name": template.name,
        "command": template.command[:2000] if template.command is not None else None,
        "script_bytes": len(template.script.encode()) if template.script is not None else None,
        "shell": template.shell.value if template.shell is not None else None,
        "targets": template.targets,
        "parameters": [each["name"] for each in template.parameters],
        "environment_keys": template.environment_keys,
        "version": template.version,
    }


# Launching -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """Where a launch comes from when it is not a person: a schedule's due time."""

    schedule_id: uuid.UUID
    due_at: str


async def launch(
    session: AsyncSession,
    dispatcher: Dispatcher,
    vault: Vault,
    principal: Principal,
    template_id: uuid.UUID,
    body: TemplateLaunch,
    *,
    secrets: Mapping[str, str] | None = None,
    origin: Origin | None = None,
    idempotency_key: str | None = None,
) -> jobs_service.Submitted:
    """Submit the template as a job by `principal`, with its parameters filled in. `secrets`
    holds values of secret parameters kept sealed elsewhere (a schedule's)."""
    template, rights = await get(session, principal, template_id)
    if not rights.can_launch:
        raise _refuse(principal, template, "launch")
    parameters = parameters_of(template)
    values = resolve_values(parameters, {**body.parameters, **(secrets or {})})
    environment = vault.open(template.environment_sealed) if template.environment_sealed else {}
    environment.update(
        {env_name(name): _as_text(value) for name, value in values.items() if value is not None}
    )
    text = template.command if template.command is not None else template.script
    assert text is not None
    rendered = render(text, template.shell, parameters, values)
    spec = {
        "name": body.name or template.name,
        "command" if template.command is not None else "script": rendered,
        "shell": template.shell,
        "targets": template.targets,
        "timeout_seconds": template.timeout_seconds,
        "priority": template.priority,
        "concurrency": template.concurrency,
        "environment": environment,
        "working_directory": template.working_directory,
    }
    if template.failure_threshold_count or template.failure_threshold_percent:
        spec["failure_threshold"] = {
            "count": template.failure_threshold_count,
            "percent": template.failure_threshold_percent,
        }
    if template.max_attempts > 1:
        spec["retries"] = {
            "attempts": template.max_attempts,
            "backoff_seconds": template.retry_backoff_seconds,
        }
    try:
        job_body = JobCreate.model_validate(spec)
    except ValidationError as exc:
        # Only the values can make a saved template's job invalid (a long value, a NUL).
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise _field_error(
            "parameters", f"the job they make is not valid: {where}: {problem['msg']}"
        ) from None
    shown = shown_values(parameters, values)
    submitted = await jobs_service.submit(
        session,
        dispatcher,
        vault,
        principal,
        job_body,
        idempotency_key=idempotency_key,
        origin={
            "template_id": template.id,
            "template_version": template.version,
            "schedule_id": origin.schedule_id if origin else None,
            "parameters": shown,
        },
    )
    if submitted.created:
        await audit.record(
            session,
            "template.launch",
            actor=principal,
            target_type="template",
            target_id=template.id,
            details={
                "name": template.name,
                "version": template.version,
                "job_id": str(submitted.job.id),
                "parameters": shown,
                "sealed_parameters": sorted(set(values) - set(shown)),
                **(
                    {"schedule_id": str(origin.schedule_id), "due_at": origin.due_at}
                    if origin
                    else {}
                ),
            },
        )
    return submitted
