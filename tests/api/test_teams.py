"""Teams and members through the API, audited."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent
from app.models.enums import Role
from tests.fixtures.auth import Account, MakeAccount
from tests.fixtures.systems import MakeGroup

TEAMS = "/api/v1/teams"


async def test_team_lifecycle(
    client: httpx.AsyncClient, session: AsyncSession, admin: Account, make_account: MakeAccount
) -> None:
    alice, bob = await make_account(Role.operator), await make_account(Role.viewer)
    created = await client.post(TEAMS, json={"name": " web-ops "}, headers=admin.headers)
    assert created.status_code == 201, created.text
    team = created.json()
    assert team["name"] == "web-ops" and team["member_count"] == 0

    added = await client.post(
        f"{TEAMS}/{team['id']}/members",
        json={"user_ids": [str(alice.user.id), str(bob.user.id), str(alice.user.id)]},
        headers=admin.headers,
    )
    assert sorted(added.json()["added"]) == sorted([str(alice.user.id), str(bob.user.id)])
    again = await client.post(
        f"{TEAMS}/{team['id']}/members",
        json={"user_ids": [str(bob.user.id)]},
        headers=admin.headers,
    )
    assert again.json()["added"] == []
    members = (await client.get(f"{TEAMS}/{team['id']}/members", headers=admin.headers)).json()
    assert {m["id"] for m in members["items"]} == {str(alice.user.id), str(bob.user.id)}
    assert (await client.get(f"{TEAMS}/{team['id']}", headers=admin.headers)).json()[
        "member_count"
    ] == 2

    me = (await client.get("/api/v1/auth/me", headers=alice.headers)).json()
    assert [t["name"] for t in me["teams"]] == ["web-ops"]
    of_alice = (
        await client.get(TEAMS, params={"user_id": str(alice.user.id)}, headers=admin.headers)
    ).json()
    assert [t["name"] for t in of_alice["items"]] == ["web-ops"]

    renamed = await client.patch(
        f"{TEAMS}/{team['id']}",
        json={"name": "platform", "description": "on call"},
        headers=admin.headers,
    )
    assert renamed.json()["name"] == "platform"
    removed = await client.delete(
        f"{TEAMS}/{team['id']}/members/{bob.user.id}", headers=admin.headers
    )
    assert removed.status_code == 200
    gone = await client.delete(f"{TEAMS}/{team['id']}/members/{bob.user.id}", headers=admin.headers)
    assert gone.status_code == 404
    assert (await client.delete(f"{TEAMS}/{team['id']}", headers=admin.headers)).status_code == 200
    assert (await client.get(f"{TEAMS}/{team['id']}", headers=admin.headers)).status_code == 404

    actions = (
        (
            await session.execute(
                select(AuditEvent.action)
                .where(AuditEvent.target_id == team["id"])
                .order_by(AuditEvent.seq)
            )
        )
        .scalars()
        .all()
    )
    assert actions == [
        "team.create",
        "team.member_add",
        "team.update",
        "team.member_remove",
        "team.delete",
    ]


async def test_team_names_are_unique_and_members_must_exist(
    client: httpx.AsyncClient, admin: Account
) -> None:
    team = (await client.post(TEAMS, json={"name": "dba"}, headers=admin.headers)).json()
    duplicate = await client.post(TEAMS, json={"name": "DBA"}, headers=admin.headers)
    assert (
        duplicate.status_code == 409 and duplicate.json()["error"]["details"][0]["field"] == "name"
    )
    ghost = str(uuid.uuid4())
    response = await client.post(
        f"{TEAMS}/{team['id']}/members", json={"user_ids": [ghost]}, headers=admin.headers
    )
    assert response.status_code == 404
    assert ghost in response.json()["error"]["message"]
    assert response.json()["error"]["details"][0]["field"] == "user_ids"
    empty = await client.post(
        f"{TEAMS}/{team['id']}/members", json={"user_ids": []}, headers=admin.headers
    )
    assert empty.status_code == 422
    blank = await client.post(TEAMS, json={"name": "   "}, headers=admin.headers)
    assert blank.status_code == 422 and blank.json()["error"]["details"][0]["field"] == "name"


async def test_deleting_a_team_records_what_went_with_it(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: Account,
    make_account: MakeAccount,
    make_group: MakeGroup,
) -> None:
    member = await make_account(Role.operator)
    group = await make_group()
    team = (await client.post(TEAMS, json={"name": "leavers"}, headers=admin.headers)).json()
    await client.post(
        f"{TEAMS}/{team['id']}/members",
        json={"user_ids": [str(member.user.id)]},
        headers=admin.headers,
    )
    await client.post(
        "/api/v1/grants",
        json={"team_id": team["id"], "group_id": str(group.id), "level": "execute"},
        headers=admin.headers,
    )
    assert (await client.delete(f"{TEAMS}/{team['id']}", headers=admin.headers)).status_code == 200
    event = (
        await session.execute(select(AuditEvent).where(AuditEvent.action == "team.delete"))
    ).scalar_one()
    assert event.details == {
        "name": "leavers",
        "members": [str(member.user.id)],
        "grants": [{"team_id": team["id"], "group_id": str(group.id), "level": "execute"}],
    }


async def test_team_names_differing_only_by_case_are_refused_by_the_database_too(
    session: AsyncSession,
) -> None:
    from sqlalchemy.exc import IntegrityError

    from app.models import Team

    session.add(Team(name="Ops"))
    await session.flush()
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            session.add(Team(name="ops"))
            await session.flush()
