"""Job templates: typed parameters, safe placement in the command, who may edit and launch."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, SystemGroup
from app.models.enums import GrantLevel, Role, Shell
from app.schemas.templates import Parameter
from app.services.templates import render
from tests.fixtures.auth import Account, MakeAccount
from tests.fixtures.engine import Engine
from tests.fixtures.systems import MakeGroup, MakeSystem, grant_to, team_of

TEMPLATES = "/api/v1/templates"

PARAMETERS: list[dict[str, Any]] = [
    {"name": "message", "type": "string", "max_length": 200},
    {"name": "count", "type": "integer", "minimum": 1, "maximum": 5, "default": 2},
    {"name": "loud", "type": "boolean", "default": False},
    {"name": "level", "type": "choice", "choices": ["info", "warn"], "default": "info"},
    {"name": "api_key", "type": "secret", "required": False},
]


def _template(**extra: Any) -> dict[str, Any]:
    return {
        "name": f"tpl-{uuid.uuid4().hex[:6]}",
        "command": "echo {{ message }} {{count}} {{ loud }} {{ level }}",
        "shell": "sh",
        "targets": {"groups": ["web"]},
        "parameters": PARAMETERS,
        **extra,
    }


@pytest.fixture
async def web(make_group: MakeGroup, make_system: MakeSystem) -> SystemGroup:
    group = await make_group("web")
    for name in ("web-1", "web-2"):
        await make_system(name, groups=(group,))
    return group


# Parameters in the command ---------------------------------------------------------------------


def test_strings_are_quoted_for_the_shell_and_other_types_written_plainly() -> None:
    parameters = [
        Parameter(name="text", type="string"),
        Parameter(name="n", type="integer"),
        Parameter(name="on", type="boolean"),
        Parameter(name="pick", type="choice", choices=["a b"]),
    ]
    values = {"text": "it's $(rm -rf /); `x`", "n": 3, "on": True, "pick": "a b"}
    sh = render("x {{text}} {{ n }} {{ on }} {{ pick }}", Shell.sh, parameters, values)
    assert sh == "x 'it'\"'\"'s $(rm -rf /); `x`' 3 true a b"
    ps = render("x {{ text }}", Shell.powershell, parameters, {"text": "a'b\u2019c"})
    assert ps == "x 'a''b\u2019\u2019c'"
    # Text that only looks like a placeholder is left alone (docker's --format, for one).
    assert render("{{.Names}} {{ text }}", Shell.bash, parameters, {"text": ""}) == "{{.Names}} ''"


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"command": "echo {{ nope }}"}, 400, "command"),
        ({"command": "echo {{ api_key }}"}, 400, "command"),
        ({"shell": None}, 400, "command"),  # a string placeholder needs a shell to quote for
        ({"script": "echo {{ message }}", "command": None, "shell": None}, 400, "script"),
        ({"parameters": [{"name": "x", "type": "choice"}]}, 422, "parameters"),
        ({"parameters": [{"name": "x", "type": "integer", "default": "many"}]}, 422, "default"),
        ({"parameters": [{"name": "x", "type": "secret", "default": "s3"}]}, 422, "default"),
        ({"parameters": [{"name": "Bad-Name"}]}, 422, "name"),
        ({"parameters": [{"name": "x"}, {"name": "x"}]}, 422, "parameters"),
        ({"parameters": [{"name": "x", "pattern": "("}]}, 422, "pattern"),
        ({"parameters": [{"name": "x", "type": "boolean", "minimum": 1}]}, 422, "minimum"),
        ({"environment": {"ORCA_PARAM_COUNT": "1"}}, 400, "environment"),
        ({"targets": {"groups": ["nope"]}}, 400, "targets.groups"),
        ({"access": [{"team": "nobody", "level": "launch"}]}, 400, "access.0.team"),
    ],
)
async def test_a_template_that_cannot_launch_safely_is_refused_naming_the_field(
    client: httpx.AsyncClient,
    admin: Account,
    web: SystemGroup,
    change: dict[str, Any],
    status: int,
    field: str,
) -> None:
    body = {key: value for key, value in (_template() | change).items() if value is not None}
    if change.get("command") is None and "command" in change:
        body.pop("command", None)
    response = await client.post(TEMPLATES, json=body, headers=admin.headers)
    assert response.status_code == status, response.text
    assert field in response.text, response.text


async def test_launch_values_are_typed_and_checked(
    client: httpx.AsyncClient, admin: Account, web: SystemGroup
) -> None:
    created = await client.post(TEMPLATES, json=_template(), headers=admin.headers)
    assert created.status_code == 201, created.text
    launch = f"{TEMPLATES}/{created.json()['id']}/launch"
    cases = [
        ({}, "parameters.message", "required"),
        ({"message": "hi", "count": 9}, "parameters.count", "at most 5"),
        ({"message": "hi", "count": "two"}, "parameters.count", "integer"),
        ({"message": "hi", "level": "debug"}, "parameters.level", "one of info, warn"),
        ({"message": "hi", "loud": "yes"}, "parameters.loud", "true or false"),
        ({"message": "hi", "colour": "red"}, "parameters.colour", "no such parameter"),
        ({"message": "x" * 201}, "parameters.message", "at most 200"),
    ]
    for values, field, words in cases:
        response = await client.post(launch, json={"parameters": values}, headers=admin.headers)
        assert response.status_code == 400, (values, response.text)
        error = response.json()["error"]
        assert error["details"][0]["field"] == field and words in error["message"], error
    response = await client.post(
        launch,
        json={"parameters": {"message": "hi", "count": "3", "loud": "true"}},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["command"] == "echo hi 3 true info"
    assert job["parameters"] == {"message": "hi", "count": 3, "loud": True, "level": "info"}
    assert job["template_id"] == created.json()["id"] and job["template_version"] == 1
    assert job["target_count"] == 2


async def test_a_launch_runs_with_its_values_and_keeps_the_secret_out_of_sight(
    orca: Engine, tmp_path: Path
) -> None:
    await orca.local_system("here")
    marker = tmp_path / "pwned"
    template = await orca.post(
        TEMPLATES,
        _template(
            command='printf "%s|" {{ message }} {{ count }}; printf "%s|%s" "$ORCA_PARAM_API_KEY" '
            '"$ORCA_PARAM_MESSAGE"',
            targets={"systems": ["here"]},
        ),
    )
    hostile = f"'; touch {marker}; echo '$(id)"
    job = await orca.post(
        f"{TEMPLATES}/{template['id']}/launch",
        {"parameters": {"message": hostile, "api_key": "hunter2-sekret"}},
    )
    assert job["environment_keys"] == [
        "ORCA_PARAM_API_KEY",
        "ORCA_PARAM_COUNT",
        "ORCA_PARAM_LEVEL",
        "ORCA_PARAM_LOUD",
        "ORCA_PARAM_MESSAGE",
    ]
    done = await orca.finished(job["id"])
    assert done["status"] == "succeeded", done
    (execution,) = await orca.executions(job["id"])
    assert await orca.output(execution["id"], "stdout") == f"{hostile}|2|hunter2-sekret|{hostile}"
    assert not marker.exists()  # the value stayed one argument
    assert "api_key" not in job["parameters"]
    async with orca.live.session() as session:
        rows = list(
            (
                await session.execute(
                    select(AuditEvent).where(AuditEvent.target_id == template["id"])
                )
            ).scalars()
        )
    assert [row.action for row in rows] == ["template.create", "template.launch"]
    launched = rows[1].details
    assert launched["job_id"] == job["id"] and launched["sealed_parameters"] == ["api_key"]
    assert launched["parameters"]["message"] == hostile
    for row in rows:
        assert "hunter2" not in json.dumps(row.details)
    listed = await orca.get("/api/v1/jobs", template_id=template["id"])
    assert [each["id"] for each in listed["items"]] == [job["id"]]


# Who may edit and launch -----------------------------------------------------------------------


async def test_templates_are_seen_edited_and_launched_as_granted(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_account: MakeAccount,
    web: SystemGroup,
) -> None:
    author = await make_account(Role.operator)
    other = await make_account(Role.operator)
    viewer = await make_account(Role.viewer)
    await grant_to(session, author, web, GrantLevel.execute)
    await grant_to(session, other, web, GrantLevel.execute)
    created = await client.post(TEMPLATES, json=_template(), headers=author.headers)
    assert created.status_code == 201, created.text
    template = created.json()
    assert template["can_edit"] and template["can_launch"]
    url = f"{TEMPLATES}/{template['id']}"

    # Not granted: it does not exist as far as they can tell (and the attempt is audited).
    assert (await client.get(url, headers=other.headers)).status_code == 404
    listed = (await client.get(TEMPLATES, headers=other.headers)).json()
    assert listed["items"] == [] and listed["total"] == 0
    launched = await client.post(
        f"{url}/launch", json={"parameters": {"message": "x"}}, headers=other.headers
    )
    assert launched.status_code == 404

    team = await team_of(session, other, viewer)
    granted = await client.patch(
        url, json={"access": [{"team": team.name, "level": "launch"}]}, headers=author.headers
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["access"] == [
        {"team_id": str(team.id), "team_name": team.name, "level": "launch"}
    ]
    seen = (await client.get(url, headers=other.headers)).json()
    assert seen["can_launch"] and not seen["can_edit"]
    edit = await client.patch(url, json={"description": "mine now"}, headers=other.headers)
    assert edit.status_code == 403 and "edit" in edit.json()["error"]["message"]
    launched = await client.post(
        f"{url}/launch", json={"parameters": {"message": "x"}}, headers=other.headers
    )
    assert launched.status_code == 201, launched.text
    assert launched.json()["created_by_username"] == other.user.username

    # A viewer in the team sees it but may not launch: a template never widens a role.
    seen = (await client.get(url, headers=viewer.headers)).json()
    assert not seen["can_launch"] and not seen["can_edit"]
    refused = await client.post(
        f"{url}/launch", json={"parameters": {"message": "x"}}, headers=viewer.headers
    )
    assert refused.status_code == 403

    await client.patch(
        url, json={"access": [{"team": str(team.id), "level": "edit"}]}, headers=author.headers
    )
    edit = await client.patch(url, json={"command": "echo {{ message }}"}, headers=other.headers)
    assert edit.status_code == 200, edit.text
    assert edit.json()["version"] == 4 and edit.json()["command"] == "echo {{ message }}"
    denied = list(
        (
            await session.execute(
                select(AuditEvent.details).where(
                    AuditEvent.action == "access.denied", AuditEvent.target_id == template["id"]
                )
            )
        ).scalars()
    )
    assert {each.get("action", each.get("reason")) for each in denied} >= {
        "template.edit",
        "not_visible",
    }


async def test_nobody_saves_or_launches_a_template_beyond_their_execute(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_account: MakeAccount,
    web: SystemGroup,
) -> None:
    looker = await make_account(Role.operator)
    await grant_to(session, looker, web, GrantLevel.view)
    refused = await client.post(TEMPLATES, json=_template(), headers=looker.headers)
    assert refused.status_code == 403 and "execute" in refused.json()["error"]["message"]

    author = await make_account(Role.operator)
    await grant_to(session, author, web, GrantLevel.execute)
    template = (await client.post(TEMPLATES, json=_template(), headers=author.headers)).json()
    team = await team_of(session, looker)
    await client.patch(
        f"{TEMPLATES}/{template['id']}",
        json={"access": [{"team": team.name, "level": "edit"}]},
        headers=author.headers,
    )
    # Granted the template, but not `execute` on its systems: no launch, no edit.
    launch = await client.post(
        f"{TEMPLATES}/{template['id']}/launch",
        json={"parameters": {"message": "x"}},
        headers=looker.headers,
    )
    assert launch.status_code == 403 and "execute" in launch.json()["error"]["message"]
    edit = await client.patch(
        f"{TEMPLATES}/{template['id']}", json={"description": "x"}, headers=looker.headers
    )
    assert edit.status_code == 403


async def test_edits_bump_the_version_and_are_audited_without_secret_values(
    client: httpx.AsyncClient, admin: Account, session: AsyncSession, web: SystemGroup
) -> None:
    created = await client.post(
        TEMPLATES, json=_template(environment={"TOKEN": "env-sekret"}), headers=admin.headers
    )
    assert created.json()["environment_keys"] == ["TOKEN"]
    url = f"{TEMPLATES}/{created.json()['id']}"
    same = await client.patch(url, json={"priority": 5}, headers=admin.headers)
    assert same.json()["version"] == 1  # nothing changed
    changed = await client.patch(
        url,
        json={"priority": 7, "environment": {"TOKEN": "other-sekret", "MODE": "x"}},
        headers=admin.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    assert changed.json()["environment_keys"] == ["MODE", "TOKEN"]
    (row,) = (
        await session.execute(select(AuditEvent).where(AuditEvent.action == "template.update"))
    ).scalars()
    assert row.details["changes"]["priority"] == {"from": 5, "to": 7}
    assert "sekret" not in json.dumps(row.details) and "sekret" not in changed.text
    null_name = await client.patch(url, json={"name": None}, headers=admin.headers)
    assert null_name.status_code == 422
    gone = await client.delete(url, headers=admin.headers)
    assert gone.status_code == 200
    assert (await client.get(url, headers=admin.headers)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"access": None}, "access"),
        ({"parameters": None}, "parameters"),
        ({"command": None}, "command"),
        ({"access": [{"team": "x", "level": "edit"}] * 101}, "access"),
        ({"command": "a", "script": "b"}, "body"),
    ],
)
async def test_a_bad_change_is_a_422_naming_the_field_even_for_an_unknown_template(
    client: httpx.AsyncClient, admin: Account, body: dict[str, Any], field: str
) -> None:
    """Found by the fuzzer: a length limit on a nullable list answered 500."""
    response = await client.patch(f"{TEMPLATES}/{uuid.uuid4()}", json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"].startswith(field)
    schedule = await client.patch(
        f"/api/v1/schedules/{uuid.uuid4()}", json={"parameters": None}, headers=admin.headers
    )
    assert schedule.status_code == 422, schedule.text
    assert schedule.json()["error"]["details"][0]["field"] == "parameters"
