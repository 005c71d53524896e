"""Object grants: what an operator reaches follows its teams' grants on groups, request by
request; lists are filtered in SQL; a refusal names the systems and is audited."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core.errors import Forbidden
from app.models import AuditEvent, Grant, System, SystemGroup, TeamMember
from app.models.enums import GrantLevel, Role
from app.repositories import audit as audit_repo
from app.services import access
from tests.fixtures.auth import Account, MakeAccount
from tests.fixtures.systems import MakeGroup, MakeSystem, grant_to


def principal(account: Account) -> Principal:
    user = account.user
    return Principal(id=user.id, username=user.username, role=user.role, session_id=uuid.uuid4())


class Fleet:
    def __init__(self, a: SystemGroup, b: SystemGroup, in_a: System, in_b: System) -> None:
        self.group_a, self.group_b, self.in_a, self.in_b = a, b, in_a, in_b


@pytest.fixture
async def fleet(make_group: MakeGroup, make_system: MakeSystem) -> Fleet:
    a, b = await make_group("group-a"), await make_group("group-b")
    return Fleet(
        a, b, await make_system("web-1", groups=(a,)), await make_system("db-1", groups=(b,))
    )


async def _visible(client: httpx.AsyncClient, account: Account) -> set[str]:
    response = await client.get("/api/v1/systems", headers=account.headers)
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()["items"]}


async def _can_run(session: AsyncSession, account: Account, system: System) -> bool:
    try:
        await access.require_systems(
            session, principal(account), [system.id], GrantLevel.execute, "run a job"
        )
    except Forbidden:
        return False
    return True


async def test_an_operator_reaches_only_what_its_team_was_granted(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_account: MakeAccount,
    fleet: Fleet,
) -> None:
    operator = await make_account(Role.operator)
    team = await grant_to(session, operator, fleet.group_a, GrantLevel.execute)

    # Granted execute on A: sees and may run on web-1; db-1 (only in B) is invisible.
    assert await _visible(client, operator) == {"web-1"}
    assert await _can_run(session, operator, fleet.in_a)
    assert not await _can_run(session, operator, fleet.in_b)
    hidden = await client.get(f"/api/v1/systems/{fleet.in_b.id}", headers=operator.headers)
    assert hidden.status_code == 404
    groups = await client.get("/api/v1/groups", headers=operator.headers)
    assert [g["name"] for g in groups.json()["items"]] == ["group-a"]
    assert (
        await client.get(f"/api/v1/groups/{fleet.group_b.id}/systems", headers=operator.headers)
    ).status_code == 404

    # Granted on B as well: now it can.
    session.add(Grant(team_id=team.id, group_id=fleet.group_b.id, level=GrantLevel.execute))
    await session.flush()
    assert await _visible(client, operator) == {"web-1", "db-1"}
    assert await _can_run(session, operator, fleet.in_b)

    # Out of the team: nothing, from the very next request.
    member = await session.get(TeamMember, (team.id, operator.user.id))
    await session.delete(member)
    await session.flush()
    assert await _visible(client, operator) == set()
    assert not await _can_run(session, operator, fleet.in_a)


async def test_view_is_not_execute_and_a_viewer_never_executes(
    session: AsyncSession, make_account: MakeAccount, fleet: Fleet
) -> None:
    operator = await make_account(Role.operator)
    await grant_to(session, operator, fleet.group_a, GrantLevel.view)
    assert not await _can_run(session, operator, fleet.in_a)

    viewer = await make_account(Role.viewer)
    await grant_to(session, viewer, fleet.group_a, GrantLevel.manage)
    levels = await access.system_levels(session, principal(viewer), [fleet.in_a.id])
    assert levels == {fleet.in_a.id: GrantLevel.view}
    assert not await _can_run(session, viewer, fleet.in_a)


async def test_the_highest_grant_across_teams_counts(
    session: AsyncSession, make_account: MakeAccount, fleet: Fleet
) -> None:
    operator = await make_account(Role.operator)
    await grant_to(session, operator, fleet.group_a, GrantLevel.view)
    await grant_to(session, operator, fleet.group_a, GrantLevel.manage)
    levels = await access.system_levels(session, principal(operator), [fleet.in_a.id])
    assert levels == {fleet.in_a.id: GrantLevel.manage}


async def test_admins_and_auditors_reach_everything_at_their_level(
    client: httpx.AsyncClient, session: AsyncSession, make_account: MakeAccount, fleet: Fleet
) -> None:
    admin, auditor = await make_account(Role.admin), await make_account(Role.auditor)
    assert await _visible(client, admin) == await _visible(client, auditor) == {"web-1", "db-1"}
    assert await _can_run(session, admin, fleet.in_b)
    assert not await _can_run(session, auditor, fleet.in_b)


async def test_a_refusal_names_every_system_beyond_reach_and_is_audited(
    session: AsyncSession, make_account: MakeAccount, fleet: Fleet, make_system: MakeSystem
) -> None:
    operator = await make_account(Role.operator)
    await grant_to(session, operator, fleet.group_a, GrantLevel.execute)
    loose = await make_system("in-no-group")
    targets = [fleet.in_a.id, fleet.in_b.id, loose.id]
    with pytest.raises(Forbidden) as refused:
        await access.require_systems(
            session, principal(operator), targets, GrantLevel.execute, "run a job"
        )
    assert sorted(refused.value.details["systems"]) == sorted([str(fleet.in_b.id), str(loose.id)])
    # The audit row is written after the failed request's rollback.
    assert len(refused.value.on_rollback) == 1
    await refused.value.on_rollback[0](session)
    await audit_repo.write_pending(session)
    event = (
        await session.execute(select(AuditEvent).where(AuditEvent.action == "access.denied"))
    ).scalar_one()
    assert event.actor_id == operator.user.id and event.outcome == "denied"
    assert event.details["needs"] == "execute" and len(event.details["systems"]) == 2


async def test_system_list_filters_and_pages(
    client: httpx.AsyncClient, make_account: MakeAccount, make_system: MakeSystem
) -> None:
    admin = await make_account(Role.admin)
    for index in range(5):
        await make_system(f"node-{index}", labels={"os": "linux", "tier": str(index % 2)})
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2, "label": "os=linux"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/systems", params=params, headers=admin.headers)).json()
        assert page["total"] == 5
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"node-{i}" for i in range(5)]
    tier = await client.get(
        "/api/v1/systems",
        params=[("label", "tier=1"), ("label", "os=linux")],
        headers=admin.headers,
    )
    assert [i["name"] for i in tier.json()["items"]] == ["node-1", "node-3"]
    bad = await client.get("/api/v1/systems", params={"label": "no-equals"}, headers=admin.headers)
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"] == "label"


async def test_admins_reach_only_systems_that_exist(
    session: AsyncSession, make_account: MakeAccount
) -> None:
    admin = await make_account(Role.admin)
    ghost = uuid.uuid4()
    with pytest.raises(Forbidden) as refused:
        await access.require_systems(session, principal(admin), [ghost], GrantLevel.execute, "run")
    assert refused.value.details["systems"] == [str(ghost)]


async def test_filtering_by_a_hidden_group_reveals_nothing(
    client: httpx.AsyncClient, session: AsyncSession, make_account: MakeAccount, fleet: Fleet
) -> None:
    operator = await make_account(Role.operator)
    await grant_to(session, operator, fleet.group_a, GrantLevel.view)
    hidden = await client.get(
        "/api/v1/systems", params={"group_id": str(fleet.group_b.id)}, headers=operator.headers
    )
    assert hidden.status_code == 404
    assert hidden.json()["error"]["details"][0]["field"] == "group_id"
    shown = await client.get(
        "/api/v1/systems", params={"group_id": str(fleet.group_a.id)}, headers=operator.headers
    )
    assert [item["name"] for item in shown.json()["items"]] == ["web-1"]
