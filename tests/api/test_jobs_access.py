"""Submitting jobs: what is refused and why, and who sees and stops which jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, Job, SystemGroup
from app.models.enums import GrantLevel, Role, SystemKind
from tests.fixtures.auth import Account, MakeAccount
from tests.fixtures.systems import MakeGroup, MakeSystem, grant_to

JOBS = "/api/v1/jobs"


async def _post(
    client: httpx.AsyncClient, account: Account, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(JOBS, json=body, headers=account.headers)


@pytest.fixture
async def web(make_group: MakeGroup, make_system: MakeSystem) -> SystemGroup:
    group = await make_group("web")
    for name in ("web-1", "web-2"):
        await make_system(name, groups=(group,), labels={"role": "web", "os": "linux"})
    await make_system("db-1", labels={"role": "db", "os": "linux"})
    await make_system("win-1", kind=SystemKind.windows, labels={"os": "windows"})
    return group


async def test_targets_resolve_from_names_groups_and_labels(
    client: httpx.AsyncClient, admin: Account, web: SystemGroup
) -> None:
    response = await _post(
        client,
        admin,
        {
            "command": "uptime",
            "targets": {"systems": ["DB-1"], "groups": ["web"], "labels": [{"role": "web"}]},
        },
    )
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["target_count"] == 3  # db-1, then web-1 and web-2 once each
    assert job["targets"] == {"systems": ["DB-1"], "groups": ["web"], "labels": [{"role": "web"}]}
    rows = (await client.get(f"{JOBS}/{job['id']}/executions", headers=admin.headers)).json()
    assert [row["system_name"] for row in rows["items"]] == ["db-1", "web-1", "web-2"]
    assert [row["position"] for row in rows["items"]] == [1, 2, 3]
    assert job["counts"]["pending"] == 3 and job["status"] == "pending"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"command": "dir", "shell": "cmd", "targets": {"systems": ["web-1"]}}, 400, "shell"),
        ({"command": "ls", "shell": "sh", "targets": {"systems": ["win-1"]}}, 400, "shell"),
        ({"command": "ls", "targets": {"systems": ["nope"]}}, 400, "targets.systems"),
        ({"command": "ls", "targets": {"groups": ["nope"]}}, 400, "targets.groups"),
        ({"command": "ls", "targets": {"labels": [{"role": "nope"}]}}, 400, "targets"),
        ({"command": "ls", "targets": {}}, 422, "targets"),
        ({"command": "ls", "script": "ls", "targets": {"systems": ["web-1"]}}, 422, "body"),
        ({"targets": {"systems": ["web-1"]}}, 422, "body"),
        ({"command": "ls", "targets": {"systems": ["web-1"]}, "priority": 11}, 422, "priority"),
        (
            {"command": "ls", "targets": {"systems": ["web-1"]}, "timeout_seconds": 0},
            422,
            "timeout",
        ),
        (
            {"command": "ls", "targets": {"systems": ["web-1"]}, "environment": {"1X": "y"}},
            422,
            "environment",
        ),
        ({"command": "x" * 100_000, "targets": {"systems": ["web-1"]}}, 422, "command"),
        ({"command": "ls\x00", "targets": {"systems": ["web-1"]}}, 422, "command"),
        (
            {"command": "ls", "targets": {"systems": ["web-1"]}, "working_directory": "a\nb"},
            422,
            "working_directory",
        ),
        ({"command": "ls", "targets": {"systems": ["web-1"]}, "colour": "red"}, 422, "colour"),
        (
            {"command": "ls", "targets": {"systems": ["web-1"]}, "failure_threshold": {}},
            422,
            "failure_threshold",
        ),
    ],
)
async def test_bad_submissions_are_refused_naming_the_field(
    client: httpx.AsyncClient,
    admin: Account,
    web: SystemGroup,
    body: dict[str, Any],
    status: int,
    field: str,
) -> None:
    response = await _post(client, admin, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert field in error["message"] or field in str(error["details"]), error


async def test_operators_run_only_where_they_hold_execute(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_account: MakeAccount,
    make_system: MakeSystem,
    web: SystemGroup,
) -> None:
    operator = await make_account(Role.operator)
    db = (
        await client.get(
            "/api/v1/systems",
            params={"q": "db-1"},
            headers=(await make_account(Role.admin)).headers,
        )
    ).json()["items"][0]
    refused = await _post(client, operator, {"command": "ls", "targets": {"systems": [db["id"]]}})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["details"]["systems"] == [db["id"]]
    # By name, a system they cannot see does not exist for them.
    hidden = await _post(client, operator, {"command": "ls", "targets": {"systems": ["db-1"]}})
    assert hidden.status_code == 400

    await grant_to(session, operator, web, GrantLevel.view)
    viewing = await _post(client, operator, {"command": "ls", "targets": {"groups": ["web"]}})
    assert viewing.status_code == 403 and viewing.json()["error"]["details"]["needs"] == "execute"
    denied = (
        (
            await session.execute(
                select(AuditEvent).where(
                    AuditEvent.action == "access.denied", AuditEvent.actor_id == operator.user.id
                )
            )
        )
        .scalars()
        .all()
    )
    assert [row.details["action"] for row in denied] == ["run a job on them"] * 2

    await grant_to(session, operator, web, GrantLevel.execute)
    allowed = await _post(client, operator, {"command": "ls", "targets": {"groups": ["web"]}})
    assert allowed.status_code == 201, allowed.text
    # A label selector reaches only what they can see: web-1 and web-2, not db-1.
    labelled = await _post(
        client, operator, {"command": "ls", "targets": {"labels": [{"os": "linux"}]}}
    )
    assert labelled.status_code == 201 and labelled.json()["target_count"] == 2


async def test_viewers_see_jobs_on_their_systems_and_nothing_else(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: Account,
    make_account: MakeAccount,
    web: SystemGroup,
) -> None:
    both = await _post(client, admin, {"command": "ls", "targets": {"systems": ["web-1", "db-1"]}})
    elsewhere = await _post(client, admin, {"command": "ls", "targets": {"systems": ["db-1"]}})
    viewer = await make_account(Role.viewer)
    await grant_to(session, viewer, web, GrantLevel.execute)  # capped to view for a viewer

    listed = (await client.get(JOBS, headers=viewer.headers)).json()
    assert [job["id"] for job in listed["items"]] == [both.json()["id"]]
    rows = (
        await client.get(f"{JOBS}/{both.json()['id']}/executions", headers=viewer.headers)
    ).json()
    assert [row["system_name"] for row in rows["items"]] == ["web-1"]
    gone = await client.get(f"{JOBS}/{elsewhere.json()['id']}", headers=viewer.headers)
    assert gone.status_code == 404
    run = await _post(client, viewer, {"command": "ls", "targets": {"groups": ["web"]}})
    assert run.status_code == 403 and run.json()["error"]["details"] == {"permission": "jobs:run"}


async def test_only_the_author_or_an_executor_of_every_system_cancels(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_account: MakeAccount,
    web: SystemGroup,
) -> None:
    author, other = await make_account(Role.operator), await make_account(Role.operator)
    await grant_to(session, author, web, GrantLevel.execute)
    await grant_to(session, other, web, GrantLevel.view)
    job = (await _post(client, author, {"command": "ls", "targets": {"groups": ["web"]}})).json()
    refused = await client.post(f"{JOBS}/{job['id']}/cancel", headers=other.headers)
    assert refused.status_code == 403 and refused.json()["error"]["details"]["needs"] == "execute"
    done = await client.post(f"{JOBS}/{job['id']}/cancel", headers=author.headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "cancelled" and done.json()["counts"]["cancelled"] == 2


async def test_job_list_filters(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: Account,
    make_account: MakeAccount,
    web: SystemGroup,
) -> None:
    other = await make_account(Role.admin)
    first = (
        await _post(client, admin, {"command": "uptime", "targets": {"groups": ["web"]}})
    ).json()
    # This test is one transaction, where now() does not move: make the first job older.
    await session.execute(
        update(Job)
        .where(Job.id == first["id"])
        .values(created_at=func.now() - timedelta(minutes=1))
    )
    await _post(client, other, {"command": "hostname", "targets": {"systems": ["db-1"]}})

    async def names(**params: Any) -> list[str]:
        response = await client.get(JOBS, params=params, headers=admin.headers)
        assert response.status_code == 200, response.text
        return [job["name"] for job in response.json()["items"]]

    assert await names() == ["hostname", "uptime"]
    assert await names(sort="created_at") == ["uptime", "hostname"]
    assert await names(q="UPT") == ["uptime"]
    assert await names(q="%") == []
    assert await names(created_by=str(admin.user.id)) == ["uptime"]
    systems = (
        await client.get("/api/v1/systems", params={"q": "db-1"}, headers=admin.headers)
    ).json()
    assert await names(system_id=systems["items"][0]["id"]) == ["hostname"]
    assert first["name"] == "uptime"
    assert await names(status="pending") == ["hostname", "uptime"]
    assert await names(status="succeeded") == []
    page = (await client.get(JOBS, params={"limit": 1}, headers=admin.headers)).json()
    assert page["total"] == 2 and page["next_cursor"]
    rest = await names(limit=1, cursor=page["next_cursor"])
    assert rest == ["uptime"]
    bad = await client.get(JOBS, params={"status": "sleeping"}, headers=admin.headers)
    assert bad.status_code == 422 and "status" in str(bad.json()["error"]["details"])


async def test_a_target_preview_counts_what_would_run_and_what_is_beyond_reach(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: Account,
    make_account: MakeAccount,
    make_group: MakeGroup,
    make_system: MakeSystem,
    web: SystemGroup,
) -> None:
    preview = "/api/v1/jobs/targets/preview"
    everything = await client.post(
        preview, json={"labels": [{"os": "linux"}], "systems": ["win-1"]}, headers=admin.headers
    )
    assert everything.status_code == 200, everything.text
    body = everything.json()
    assert body["count"] == 4 and body["kinds"] == {"linux": 3, "windows": 1}
    assert [s["name"] for s in body["systems"]] == ["win-1", "db-1", "web-1", "web-2"]
    assert body["beyond_reach"] == [] and body["beyond_reach_count"] == 0
    nothing = await client.post(preview, json={"labels": [{"os": "bsd"}]}, headers=admin.headers)
    assert nothing.status_code == 200 and nothing.json()["count"] == 0
    unknown = await client.post(preview, json={"groups": ["nope"]}, headers=admin.headers)
    assert unknown.status_code == 400 and "targets.groups" in unknown.json()["error"]["message"]
    empty = await client.post(preview, json={}, headers=admin.headers)
    assert empty.status_code == 422

    # An operator: the group they view is counted, but beyond reach; what they cannot see is
    # not counted at all.
    operator = await make_account(Role.operator)
    await grant_to(session, operator, web, GrantLevel.view)
    ops = await make_group("ops")
    await make_system("ops-1", groups=(ops,), labels={"os": "linux"})
    await grant_to(session, operator, ops, GrantLevel.execute)
    seen = await client.post(preview, json={"labels": [{"os": "linux"}]}, headers=operator.headers)
    assert seen.status_code == 200, seen.text
    assert seen.json()["count"] == 3
    assert seen.json()["beyond_reach"] == ["web-1", "web-2"]
    viewer = await make_account(Role.viewer)
    refused = await client.post(preview, json={"groups": ["web"]}, headers=viewer.headers)
    assert refused.status_code == 403
