"""Admin APIs for users: create, list, change, reset, deactivate, delete; all audited."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent
from app.models.enums import Role
from tests.fixtures.app import LiveApp
from tests.fixtures.auth import PASSWORD, Account, MakeAccount, add_account, login

USERS = "/api/v1/users"


async def _events(session: AsyncSession, action: str) -> list[AuditEvent]:
    result = await session.execute(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
    )
    return list(result.scalars().all())


async def test_create_with_a_generated_password_that_works_once_shown(
    client: httpx.AsyncClient, session: AsyncSession, admin: Account
) -> None:
    response = await client.post(
        USERS,
        json={"username": "alice", "role": "operator", "email": "alice@example.com"},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["role"] == "operator" and body["is_active"] is True
    generated = body["generated_password"]
    assert len(generated) >= 20
    assert (await login(client, "alice", generated)).status_code == 200
    fetched = await client.get(f"{USERS}/{body['id']}", headers=admin.headers)
    assert "generated_password" not in fetched.json() and "password_hash" not in fetched.json()
    [event] = await _events(session, "user.create")
    assert event.actor_id == admin.user.id and event.target_id == body["id"]
    assert generated not in str(event.details)


async def test_a_chosen_password_follows_the_policy_and_is_never_echoed(
    client: httpx.AsyncClient, admin: Account
) -> None:
    weak = await client.post(
        USERS, json={"username": "robert", "password": "robert-is-my-name"}, headers=admin.headers
    )
    assert weak.status_code == 400
    assert weak.json()["error"]["details"][0]["field"] == "password"
    ok = await client.post(
        USERS,
        json={"username": "robert", "password": "a-long-and-fine-secret"},
        headers=admin.headers,
    )
    assert ok.status_code == 201
    assert ok.json()["generated_password"] is None
    assert "a-long-and-fine-secret" not in ok.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": ""}, "username"),
        ({"username": "has space"}, "username"),
        ({"username": "x" * 65}, "username"),
        ({"username": "carol", "role": "root"}, "role"),
        ({"username": "carol", "email": "not-an-address"}, "email"),
    ],
)
async def test_bad_user_fields_are_named(
    client: httpx.AsyncClient, admin: Account, body: dict[str, str], field: str
) -> None:
    response = await client.post(USERS, json=body, headers=admin.headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == field


async def test_usernames_are_unique_without_regard_to_case(
    client: httpx.AsyncClient, admin: Account
) -> None:
    assert (
        await client.post(USERS, json={"username": "Dave"}, headers=admin.headers)
    ).status_code == 201
    again = await client.post(USERS, json={"username": "dave"}, headers=admin.headers)
    assert again.status_code == 409
    assert again.json()["error"]["details"][0]["field"] == "username"


async def test_list_filters_sorts_and_pages(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    for name in ("op-b", "op-a", "op-c"):
        await make_account(Role.operator, username=name)
    await make_account(Role.viewer, username="viewer-x")
    first = (
        await client.get(USERS, params={"role": "operator", "limit": 2}, headers=admin.headers)
    ).json()
    assert [u["username"] for u in first["items"]] == ["op-a", "op-b"]
    assert first["total"] == 3
    second = (
        await client.get(
            USERS,
            params={"role": "operator", "limit": 2, "cursor": first["next_cursor"]},
            headers=admin.headers,
        )
    ).json()
    assert [u["username"] for u in second["items"]] == ["op-c"]
    assert second["next_cursor"] is None
    newest = (
        await client.get(USERS, params={"sort": "-username", "q": "OP-"}, headers=admin.headers)
    ).json()
    assert [u["username"] for u in newest["items"]] == ["op-c", "op-b", "op-a"]
    literal = (await client.get(USERS, params={"q": "op_"}, headers=admin.headers)).json()
    assert literal["items"] == []  # _ is matched literally, not as a wildcard


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "garbage!"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"sort": "password_hash"}, "sort"),
        ({"role": "root"}, "role"),
    ],
)
async def test_bad_list_parameters_are_named(
    client: httpx.AsyncClient, admin: Account, params: dict[str, str], field: str
) -> None:
    response = await client.get(USERS, params=params, headers=admin.headers)
    assert response.status_code in {400, 422}
    assert response.json()["error"]["details"][0]["field"] == field


async def test_a_cursor_from_another_sort_is_refused(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    for _ in range(3):
        await make_account()
    page = (await client.get(USERS, params={"limit": 1}, headers=admin.headers)).json()
    response = await client.get(
        USERS,
        params={"limit": 1, "sort": "-created_at", "cursor": page["next_cursor"]},
        headers=admin.headers,
    )
    assert response.status_code == 400
    assert "sort" in response.json()["error"]["message"]


async def test_a_role_change_applies_at_once_and_ends_sessions(
    client: httpx.AsyncClient, session: AsyncSession, admin: Account, make_account: MakeAccount
) -> None:
    target = await make_account(Role.operator)
    pair = (await login(client, target.user.username, PASSWORD)).json()
    response = await client.patch(
        f"{USERS}/{target.user.id}", json={"role": "viewer"}, headers=admin.headers
    )
    assert response.status_code == 200 and response.json()["role"] == "viewer"
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
    [event] = await _events(session, "user.update")
    assert event.details["changes"] == {"role": {"from": "operator", "to": "viewer"}}


async def test_deactivation_ends_every_session_and_login(
    client: httpx.AsyncClient, session: AsyncSession, admin: Account, make_account: MakeAccount
) -> None:
    target = await make_account(Role.operator)
    pair = (await login(client, target.user.username, PASSWORD)).json()
    response = await client.post(f"{USERS}/{target.user.id}/deactivate", headers=admin.headers)
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert (await client.get("/api/v1/auth/me", headers=target.headers)).status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refreshed.status_code == 401
    assert (await login(client, target.user.username, PASSWORD)).status_code == 401
    assert len(await _events(session, "user.deactivate")) == 1


async def test_the_last_active_admin_stays(
    client: httpx.AsyncClient, session: AsyncSession, admin: Account
) -> None:
    from app.repositories import users as users_repo

    assert await users_repo.count_admins(session, active_only=True) == 1
    demote = await client.patch(
        f"{USERS}/{admin.user.id}", json={"role": "viewer"}, headers=admin.headers
    )
    assert demote.status_code == 409 and "admin" in demote.json()["error"]["message"]
    deactivate = await client.post(f"{USERS}/{admin.user.id}/deactivate", headers=admin.headers)
    assert deactivate.status_code == 409
    delete_self = await client.delete(f"{USERS}/{admin.user.id}", headers=admin.headers)
    assert delete_self.status_code == 409


async def test_reset_password_and_delete(
    client: httpx.AsyncClient, session: AsyncSession, admin: Account, make_account: MakeAccount
) -> None:
    target = await make_account(Role.viewer)
    reset = await client.post(f"{USERS}/{target.user.id}/password", headers=admin.headers)
    generated = reset.json()["generated_password"]
    assert (await login(client, target.user.username, PASSWORD)).status_code == 401
    assert (await login(client, target.user.username, generated)).status_code == 200
    chosen = await client.post(
        f"{USERS}/{target.user.id}/password", json={"password": "short"}, headers=admin.headers
    )
    assert chosen.status_code == 400 and chosen.json()["error"]["details"][0]["field"] == "password"

    assert (
        await client.delete(f"{USERS}/{target.user.id}", headers=admin.headers)
    ).status_code == 200
    assert (await client.get(f"{USERS}/{target.user.id}", headers=admin.headers)).status_code == 404
    [event] = await _events(session, "user.delete")
    assert event.details == {"username": target.user.username, "role": "viewer", "teams": []}


async def test_unknown_ids_are_404_and_malformed_ids_422(
    client: httpx.AsyncClient, admin: Account
) -> None:
    missing = await client.get(
        f"{USERS}/00000000-0000-0000-0000-000000000000", headers=admin.headers
    )
    assert missing.status_code == 404
    malformed = await client.get(f"{USERS}/not-a-uuid", headers=admin.headers)
    assert malformed.status_code == 422
    assert malformed.json()["error"]["details"][0]["field"] == "user_id"


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(live: LiveApp) -> None:
    """Each request locks every active admin before counting them, so the two are decided
    one after the other and the second finds itself about to remove the last admin."""
    async with live.session() as session:
        one = await add_account(session, live.settings, Role.admin, "admin-one")
        two = await add_account(session, live.settings, Role.admin, "admin-two")
    answers = await asyncio.gather(
        live.client.patch(f"{USERS}/{two.user.id}", json={"role": "viewer"}, headers=one.headers),
        live.client.patch(f"{USERS}/{one.user.id}", json={"role": "viewer"}, headers=two.headers),
    )
    codes = sorted(a.status_code for a in answers)
    # The loser is refused either by the rule (409) or because its own demotion, committed
    # first, already ended its session (401); never do both succeed.
    assert codes[0] == 200 and codes[1] in {401, 409}, [a.text for a in answers]
    async with live.session() as session:
        from app.repositories import users as users_repo

        assert await users_repo.count_admins(session, active_only=True) == 1
