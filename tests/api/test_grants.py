"""Groups and grants through the API: an admin builds access, an operator feels it at once."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent
from app.models.enums import Role
from tests.fixtures.auth import Account, MakeAccount
from tests.fixtures.systems import MakeSystem

API = "/api/v1"


async def test_admin_builds_access_and_the_operator_sees_it_change(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: Account,
    make_account: MakeAccount,
    make_system: MakeSystem,
) -> None:
    operator = await make_account(Role.operator)
    web, db = await make_system("web-1"), await make_system("db-1")
    as_admin = {"headers": admin.headers}

    group = (await client.post(f"{API}/groups", json={"name": "web"}, **as_admin)).json()
    added = await client.post(
        f"{API}/groups/{group['id']}/systems", json={"system_ids": [str(web.id)]}, **as_admin
    )
    assert added.json()["added"] == [str(web.id)]
    team = (await client.post(f"{API}/teams", json={"name": "ops"}, **as_admin)).json()
    await client.post(
        f"{API}/teams/{team['id']}/members", json={"user_ids": [str(operator.user.id)]}, **as_admin
    )

    async def visible() -> set[str]:
        page = (await client.get(f"{API}/systems", headers=operator.headers)).json()
        return {item["name"] for item in page["items"]}

    assert await visible() == set()
    grant = await client.post(
        f"{API}/grants",
        json={"team_id": team["id"], "group_id": group["id"], "level": "view"},
        **as_admin,
    )
    assert grant.status_code == 201, grant.text
    grant_id = grant.json()["id"]
    assert grant.json()["created_by_id"] == str(admin.user.id)
    assert await visible() == {"web-1"}
    system = (await client.get(f"{API}/systems/{web.id}", headers=operator.headers)).json()
    assert system["group_ids"] == [group["id"]]

    duplicate = await client.post(
        f"{API}/grants",
        json={"team_id": team["id"], "group_id": group["id"], "level": "manage"},
        **as_admin,
    )
    assert duplicate.status_code == 409 and grant_id in duplicate.json()["error"]["message"]

    upgraded = await client.patch(f"{API}/grants/{grant_id}", json={"level": "execute"}, **as_admin)
    assert upgraded.json()["level"] == "execute"
    listed = (await client.get(f"{API}/grants", params={"team_id": team["id"]}, **as_admin)).json()
    assert [g["level"] for g in listed["items"]] == ["execute"]

    await client.post(
        f"{API}/groups/{group['id']}/systems", json={"system_ids": [str(db.id)]}, **as_admin
    )
    assert await visible() == {"web-1", "db-1"}
    await client.delete(f"{API}/groups/{group['id']}/systems/{db.id}", **as_admin)
    assert await visible() == {"web-1"}

    assert (await client.delete(f"{API}/grants/{grant_id}", **as_admin)).status_code == 200
    assert await visible() == set()

    actions = (
        (
            await session.execute(
                select(AuditEvent.action)
                .where(AuditEvent.action.like("grant.%"))
                .order_by(AuditEvent.seq)
            )
        )
        .scalars()
        .all()
    )
    assert actions == ["grant.create", "grant.update", "grant.delete"]


async def test_grants_need_a_real_team_group_and_level(
    client: httpx.AsyncClient, admin: Account
) -> None:
    group = (await client.post(f"{API}/groups", json={"name": "g"}, headers=admin.headers)).json()
    missing = await client.post(
        f"{API}/grants",
        json={"team_id": str(uuid.uuid4()), "group_id": group["id"], "level": "view"},
        headers=admin.headers,
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["details"][0]["field"] == "team_id"
    bad_level = await client.post(
        f"{API}/grants",
        json={"team_id": str(uuid.uuid4()), "group_id": group["id"], "level": "root"},
        headers=admin.headers,
    )
    assert (
        bad_level.status_code == 422 and bad_level.json()["error"]["details"][0]["field"] == "level"
    )


async def test_group_systems_must_exist_and_names_are_unique(
    client: httpx.AsyncClient, admin: Account
) -> None:
    group = (await client.post(f"{API}/groups", json={"name": "db"}, headers=admin.headers)).json()
    ghost = str(uuid.uuid4())
    response = await client.post(
        f"{API}/groups/{group['id']}/systems", json={"system_ids": [ghost]}, headers=admin.headers
    )
    assert response.status_code == 404 and ghost in response.json()["error"]["message"]
    duplicate = await client.post(f"{API}/groups", json={"name": "DB"}, headers=admin.headers)
    assert duplicate.status_code == 409
    renamed = await client.patch(
        f"{API}/groups/{group['id']}", json={"name": "databases"}, headers=admin.headers
    )
    assert renamed.json()["name"] == "databases"
