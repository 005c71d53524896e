"""Schedules through the API: what is refused and why, who sees and changes them, next runs."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, Schedule, SystemGroup
from app.models.enums import GrantLevel, Role
from tests.fixtures.auth import Account, MakeAccount
from tests.fixtures.systems import MakeGroup, MakeSystem, grant_to, team_of

SCHEDULES = "/api/v1/schedules"
TEMPLATES = "/api/v1/templates"


@pytest.fixture
async def web(make_group: MakeGroup, make_system: MakeSystem) -> SystemGroup:
    group = await make_group("web")
    await make_system("web-1", groups=(group,))
    return group


async def _template(client: httpx.AsyncClient, account: Account, **extra: Any) -> dict[str, Any]:
    response = await client.post(
        TEMPLATES,
        json={
            "name": f"t-{uuid.uuid4().hex[:6]}",
            "command": "deploy --to {{ env }}",
            "targets": {"groups": ["web"]},
            "parameters": [
                {"name": "env", "type": "choice", "choices": ["staging", "prod"]},
                {"name": "token", "type": "secret", "required": False},
            ],
            **extra,
        },
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _schedule(of: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": f"s-{uuid.uuid4().hex[:6]}",
        "template": of["name"],
        "cron": "30 2 * * 1-5",
        "timezone": "Europe/Berlin",
        "parameters": {"env": "staging"},
        **extra,
    }


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"cron": "every day"}, 400, "cron"),
        ({"cron": "0 0 30 2 *"}, 400, "cron"),
        ({"timezone": "Europe/Atlantis"}, 400, "timezone"),
        ({"template": "no-such-template"}, 400, "template"),
        ({"parameters": {}}, 400, "parameters.env"),
        ({"parameters": {"env": "qa"}}, 400, "parameters.env"),
        ({"parameters": {"env": "prod", "extra": 1}}, 400, "parameters.extra"),
        ({"grace_seconds": 5}, 422, "grace_seconds"),
        ({"missed_policy": "run_all"}, 422, "missed_policy"),
        ({"name": ""}, 422, "name"),
    ],
)
async def test_bad_schedules_are_refused_naming_the_field(
    client: httpx.AsyncClient,
    admin: Account,
    web: SystemGroup,
    change: dict[str, Any],
    status: int,
    field: str,
) -> None:
    template = await _template(client, admin)
    response = await client.post(
        SCHEDULES, json=_schedule(template, **change), headers=admin.headers
    )
    assert response.status_code == status, response.text
    fields = [each["field"] for each in response.json()["error"]["details"]]
    assert any(field in each for each in fields), response.text


async def test_a_schedule_shows_its_next_runs_and_pauses(
    client: httpx.AsyncClient, admin: Account, session: AsyncSession, web: SystemGroup
) -> None:
    template = await _template(client, admin)
    response = await client.post(
        SCHEDULES,
        json=_schedule(template, parameters={"env": "prod", "token": "tok-sekret-1"}),
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    schedule = response.json()
    assert schedule["parameters"] == {"env": "prod"}
    assert schedule["secret_parameters"] == ["token"]
    assert "tok-sekret" not in response.text
    runs = [datetime.fromisoformat(each) for each in schedule["next_runs"]]
    assert (
        len(runs) == 5
        and runs == sorted(runs)
        and runs[0].isoformat() == schedule["next_run_at"].replace("Z", "+00:00")
    )
    for moment in runs:  # 02:30 in Berlin is 00:30 or 01:30 UTC, on weekdays
        assert moment.minute == 30 and moment.hour in (0, 1) and moment.weekday() < 5
    url = f"{SCHEDULES}/{schedule['id']}"
    paused = (await client.patch(url, json={"enabled": False}, headers=admin.headers)).json()
    assert (
        paused["enabled"] is False and paused["next_run_at"] is None and paused["next_runs"] == []
    )
    resumed = (await client.patch(url, json={"enabled": True}, headers=admin.headers)).json()
    assert resumed["next_run_at"] == schedule["next_run_at"]
    rows = list(
        (
            await session.execute(
                select(AuditEvent)
                .where(AuditEvent.target_id == schedule["id"])
                .order_by(AuditEvent.seq)
            )
        ).scalars()
    )
    assert [row.action for row in rows] == [
        "schedule.create",
        "schedule.disable",
        "schedule.enable",
    ]
    assert all("tok-sekret" not in json.dumps(row.details) for row in rows)
    stored = await session.get(Schedule, uuid.UUID(schedule["id"]))
    assert (
        stored is not None and stored.secrets_sealed and b"tok-sekret" not in stored.secrets_sealed
    )
    # A change of values keeps a stored secret that was not sent again (nobody can read it
    # back to send it).
    changed = await client.patch(
        url, json={"parameters": {"env": "staging"}}, headers=admin.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["parameters"] == {"env": "staging"}
    assert changed.json()["secret_parameters"] == ["token"]
    runs_page = await client.get(f"{url}/runs", headers=admin.headers)
    assert runs_page.status_code == 200 and runs_page.json()["items"] == []
    preview = await client.post(
        f"{SCHEDULES}/preview", json={"cron": "@hourly", "count": 3}, headers=admin.headers
    )
    times = [datetime.fromisoformat(each) for each in preview.json()["next_runs"]]
    assert len(times) == 3 and all(each.minute == 0 for each in times)


async def test_schedules_are_seen_and_changed_as_their_templates_allow(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_account: MakeAccount,
    web: SystemGroup,
) -> None:
    author = await make_account(Role.operator)
    launcher = await make_account(Role.operator)
    stranger = await make_account(Role.operator)
    viewer = await make_account(Role.viewer)
    for each in (author, launcher, stranger):
        await grant_to(session, each, web, GrantLevel.execute)
    template = await _template(client, author)
    # Only someone who may launch the template may schedule it.
    refused = await client.post(SCHEDULES, json=_schedule(template), headers=stranger.headers)
    assert refused.status_code == 400  # the template is not even visible to them
    team = await team_of(session, launcher, viewer)
    await client.patch(
        f"{TEMPLATES}/{template['id']}",
        json={"access": [{"team": team.name, "level": "launch"}]},
        headers=author.headers,
    )
    made = await client.post(SCHEDULES, json=_schedule(template), headers=launcher.headers)
    assert made.status_code == 201, made.text
    schedule = made.json()
    assert schedule["owner_username"] == launcher.user.username and schedule["can_manage"]
    url = f"{SCHEDULES}/{schedule['id']}"

    assert (await client.get(url, headers=stranger.headers)).status_code == 404
    listed = (await client.get(SCHEDULES, headers=stranger.headers)).json()
    assert listed["total"] == 0
    seen = (await client.get(url, headers=viewer.headers)).json()
    assert seen["can_manage"] is False
    assert (
        await client.patch(url, json={"enabled": False}, headers=viewer.headers)
    ).status_code == 403

    # The template's author may change it; changing when it runs makes them its owner.
    changed = await client.patch(url, json={"cron": "0 4 * * *"}, headers=author.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["owner_username"] == author.user.username
    # The launcher, no longer its owner and not an editor of the template, may not.
    assert (
        await client.patch(url, json={"enabled": False}, headers=launcher.headers)
    ).status_code == 403
    # A template with schedules cannot be deleted from under them.
    conflict = await client.delete(f"{TEMPLATES}/{template['id']}", headers=author.headers)
    assert conflict.status_code == 409 and schedule["name"] in conflict.json()["error"]["message"]
    assert (await client.delete(url, headers=author.headers)).status_code == 200
    assert (
        await client.delete(f"{TEMPLATES}/{template['id']}", headers=author.headers)
    ).status_code == 200
