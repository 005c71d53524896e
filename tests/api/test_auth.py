"""Logging in, refresh rotation and reuse, logout, password changes and login limits."""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.ratelimit import address_bucket
from app.core.config import Settings
from app.main import create_app
from app.models import AuditEvent, RefreshToken, User
from app.models.enums import Role
from tests.fixtures.app import LiveApp, make_settings
from tests.fixtures.auth import PASSWORD, Account, MakeAccount, add_account, login
from tests.fixtures.services import TestServices

ME = "/api/v1/auth/me"
REFRESH = "/api/v1/auth/refresh"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def actions(session: AsyncSession, *names: str) -> list[AuditEvent]:
    result = await session.execute(
        select(AuditEvent).where(AuditEvent.action.in_(names)).order_by(AuditEvent.seq)
    )
    return list(result.scalars().all())


@pytest.fixture
async def operator(make_account: MakeAccount) -> Account:
    return await make_account(Role.operator)


# -- login ------------------------------------------------------------------------------------


async def test_login_with_json_returns_a_working_pair(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, operator: Account
) -> None:
    response = await login(client, operator.user.username, PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_ttl_seconds
    assert body["refresh_token"].startswith("ort_") and len(body["refresh_token"]) >= 4 + 43
    me = await client.get(ME, headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["role"] == "operator"
    assert "account:self" in me.json()["permissions"]
    # Only a hash of the refresh token is stored.
    stored = (await session.execute(select(RefreshToken.token_hash))).scalars().all()
    assert body["refresh_token"] not in stored and len(stored) == 1
    [event] = await actions(session, "auth.login")
    assert event.actor_id == operator.user.id and event.outcome == "success"
    assert str(event.client_ip) == "127.0.0.1"


async def test_login_accepts_the_oauth2_form_of_the_docs_page(
    client: httpx.AsyncClient, operator: Account
) -> None:
    response = await client.post(
        "/api/v1/auth/login",
        data={"grant_type": "password", "username": operator.user.username, "password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    assert response.json()["access_token"]


async def test_login_usernames_ignore_case(client: httpx.AsyncClient, operator: Account) -> None:
    response = await login(client, operator.user.username.upper(), PASSWORD)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "x"}, "username"),
        ({"username": "a"}, "password"),
        ({"username": "a" * 65, "password": "x"}, "username"),
        ({"username": "a", "password": "x" * 257}, "password"),
    ],
)
async def test_malformed_logins_name_the_field(
    client: httpx.AsyncClient, body: dict[str, str], field: str
) -> None:
    response = await client.post("/api/v1/auth/login", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == field


async def test_login_with_a_body_that_is_not_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "body"


async def test_unknown_user_wrong_password_and_inactive_look_the_same(
    client: httpx.AsyncClient, session: AsyncSession, make_account: MakeAccount
) -> None:
    known = await make_account(Role.viewer)
    inactive = await make_account(Role.viewer)
    inactive.user.is_active = False
    await session.flush()
    answers = [
        await login(client, "nobody-here", PASSWORD),
        await login(client, known.user.username, "wrong password entirely"),
        await login(client, inactive.user.username, PASSWORD),
    ]
    assert {a.status_code for a in answers} == {401}
    assert len({a.content for a in answers}) == 1
    assert answers[0].json()["error"]["message"] == "Invalid username or password."
    failed = await actions(session, "auth.login_failed")
    assert [e.details["reason"] for e in failed] == ["unknown user", "wrong password", "inactive"]
    # A name matching no account may be a password typed in the wrong field: it is kept
    # only masked, with a keyed fingerprint to tell repeated attempts apart.
    assert failed[0].actor_id is None and failed[0].actor_username is None
    assert failed[0].details["username_masked"] == "n…e"
    assert len(failed[0].details["username_fingerprint"]) == 16
    assert not any("nobody-here" in str(e.details) for e in failed)
    assert failed[1].actor_id == known.user.id
    # The typed password is in no audit row.
    rows = (await session.execute(select(AuditEvent.details))).scalars().all()
    assert not any("wrong password entirely" in str(details) for details in rows)


async def test_an_unknown_user_costs_as_much_time_as_a_wrong_password(
    client: httpx.AsyncClient, settings: Settings, operator: Account
) -> None:
    """Without the dummy verification an unknown name answers in about a millisecond and a
    known one in tens (argon2): a timing oracle for valid usernames. The bound is loose on
    purpose (this machine is noisy); the difference it guards against is twentyfold."""

    async def median(username: str) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            assert (await login(client, username, "not the password")).status_code == 401
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    settings.login_max_failures_per_user = settings.login_max_failures_per_ip = 1000
    unknown = await median("no-such-user")
    wrong = await median(operator.user.username)
    assert unknown > 0.5 * wrong, (unknown, wrong)


# -- refresh ----------------------------------------------------------------------------------


async def test_refresh_rotates_and_a_reused_token_revokes_the_family(
    client: httpx.AsyncClient, session: AsyncSession, operator: Account
) -> None:
    first = (await login(client, operator.user.username, PASSWORD)).json()
    second = (await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})).json()
    assert second["refresh_token"] != first["refresh_token"]
    third = (await client.post(REFRESH, json={"refresh_token": second["refresh_token"]})).json()
    assert (await client.get(ME, headers=bearer(third["access_token"]))).status_code == 200

    # The first token again: someone else has a copy. The whole login ends, access tokens too.
    reuse = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert (
        await client.post(REFRESH, json={"refresh_token": third["refresh_token"]})
    ).status_code == 401
    assert (await client.get(ME, headers=bearer(third["access_token"]))).status_code == 401
    [event] = await actions(session, "auth.refresh_reuse")
    assert event.outcome == "denied" and event.actor_id == operator.user.id
    assert len(await actions(session, "auth.refresh")) == 2
    live = await session.scalar(
        select(func.count()).select_from(RefreshToken).where(RefreshToken.revoked_at.is_(None))
    )
    assert live == 0


async def test_other_logins_survive_a_reuse_in_one_family(
    client: httpx.AsyncClient, operator: Account
) -> None:
    laptop = (await login(client, operator.user.username, PASSWORD)).json()
    phone = (await login(client, operator.user.username, PASSWORD)).json()
    await client.post(REFRESH, json={"refresh_token": laptop["refresh_token"]})
    await client.post(REFRESH, json={"refresh_token": laptop["refresh_token"]})  # reuse
    assert (await client.get(ME, headers=bearer(phone["access_token"]))).status_code == 200
    again = await client.post(REFRESH, json={"refresh_token": phone["refresh_token"]})
    assert again.status_code == 200


async def test_unknown_expired_and_capped_refresh_tokens_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, operator: Account
) -> None:
    unknown = await client.post(REFRESH, json={"refresh_token": "ort_" + "A" * 43})
    assert unknown.status_code == 401
    assert unknown.json()["error"]["message"] == "Invalid or expired refresh token; log in again."

    pair = (await login(client, operator.user.username, PASSWORD)).json()
    past = datetime.now(UTC) - timedelta(seconds=1)
    await session.execute(update(RefreshToken).values(expires_at=past))
    assert (
        await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    ).status_code == 401

    # A session past its absolute end cannot be refreshed, however fresh its last token.
    pair = (await login(client, operator.user.username, PASSWORD)).json()
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.revoked_at.is_(None), RefreshToken.used_at.is_(None))
        .values(family_expires_at=past)
    )
    assert (
        await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    ).status_code == 401
    reasons = [e.details["reason"] for e in await actions(session, "auth.refresh_failed")]
    assert reasons == ["unknown token", "expired", "expired"]


async def test_the_session_cap_limits_every_rotated_token(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, operator: Account
) -> None:
    settings.session_max_seconds = 600
    pair = (await login(client, operator.user.username, PASSWORD)).json()
    rotated = (await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})).json()
    expires = datetime.fromisoformat(rotated["refresh_expires_at"])
    assert expires <= datetime.now(UTC) + timedelta(seconds=600)


async def test_a_deactivated_user_cannot_refresh(
    client: httpx.AsyncClient, session: AsyncSession, operator: Account
) -> None:
    pair = (await login(client, operator.user.username, PASSWORD)).json()
    operator.user.is_active = False
    await session.flush()
    response = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 401


# -- browser sessions: the refresh token in an httpOnly cookie -------------------------------

BROWSER = {"X-Requested-With": "orca-console"}


def refresh_cookie(response: httpx.Response) -> str:
    [header] = response.headers.get_list("set-cookie")
    return header


async def test_a_browser_login_keeps_its_refresh_token_in_an_httponly_cookie(
    client: httpx.AsyncClient, session: AsyncSession, operator: Account
) -> None:
    response = await client.post(
        "/api/v1/auth/login",
        json={"username": operator.user.username, "password": PASSWORD, "refresh_cookie": True},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["refresh_token"] is None
    header = refresh_cookie(response)
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert header.startswith("orca_refresh=ort_")
    assert {"httponly", "path", "max-age", "samesite"} <= attributes
    assert "Path=/api/v1/auth" in header and "SameSite=strict" in header
    assert "secure" not in attributes  # plain http here; https or ORCA_COOKIE_SECURE adds it
    first = client.cookies.get("orca_refresh")
    assert first

    # No body: the cookie is spent and replaced; the old value is then a reuse.
    rotated = await client.post(REFRESH, headers=BROWSER)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["refresh_token"] is None
    second = client.cookies.get("orca_refresh")
    assert second and second != first
    assert (await client.get(ME, headers=bearer(rotated.json()["access_token"]))).status_code == 200
    assert len(await actions(session, "auth.refresh")) == 1

    # Logging out clears the cookie and ends the session.
    out = await client.post("/api/v1/auth/logout", headers=bearer(rotated.json()["access_token"]))
    assert out.status_code == 200
    assert "orca_refresh=" in refresh_cookie(out) and "Max-Age=0" in refresh_cookie(out)
    assert client.cookies.get("orca_refresh") is None
    client.cookies.set("orca_refresh", second, domain="orca.test", path="/api/v1/auth")
    refused = await client.post(REFRESH, headers=BROWSER)
    assert refused.status_code == 401
    # A cookie that no longer works is removed.
    assert "Max-Age=0" in refresh_cookie(refused)


async def test_the_cookie_is_spent_only_with_x_requested_with(
    client: httpx.AsyncClient, session: AsyncSession, operator: Account
) -> None:
    await client.post(
        "/api/v1/auth/login",
        json={"username": operator.user.username, "password": PASSWORD, "refresh_cookie": True},
    )
    # A cross-site form can send the cookie (if SameSite failed) but not this header.
    forged = await client.post(REFRESH)
    assert forged.status_code == 400
    assert forged.json()["error"]["details"] == [
        {"field": "X-Requested-With", "message": "missing"}
    ]
    assert await actions(session, "auth.refresh", "auth.refresh_failed") == []
    assert (await client.post(REFRESH, headers=BROWSER)).status_code == 200

    client.cookies.clear()
    missing = await client.post(REFRESH, headers=BROWSER)
    assert missing.status_code == 400
    assert missing.json()["error"]["details"][0]["field"] == "refresh_token"


async def test_a_password_change_from_a_browser_renews_the_cookie(
    client: httpx.AsyncClient, operator: Account
) -> None:
    login_response = await client.post(
        "/api/v1/auth/login",
        json={"username": operator.user.username, "password": PASSWORD, "refresh_cookie": True},
    )
    before = client.cookies.get("orca_refresh")
    response = await client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "a-much-better-passphrase-42"},
        headers=bearer(login_response.json()["access_token"]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["refresh_token"] is None
    after = client.cookies.get("orca_refresh")
    assert after and after != before
    assert (await client.post(REFRESH, headers=BROWSER)).status_code == 200


async def test_the_cookie_is_secure_over_https_or_when_configured(
    app: FastAPI, settings: Settings, operator: Account
) -> None:
    body = {"username": operator.user.username, "password": PASSWORD, "refresh_cookie": True}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://orca.test") as https:
        assert "; Secure" in refresh_cookie(await https.post("/api/v1/auth/login", json=body))
    async with httpx.AsyncClient(transport=transport, base_url="http://orca.test") as http:
        assert "Secure" not in refresh_cookie(await http.post("/api/v1/auth/login", json=body))
        settings.cookie_secure = True  # behind a TLS proxy that does not say so
        assert "; Secure" in refresh_cookie(await http.post("/api/v1/auth/login", json=body))


# -- logout and passwords ---------------------------------------------------------------------


async def test_logout_ends_this_session_only(client: httpx.AsyncClient, operator: Account) -> None:
    one = (await login(client, operator.user.username, PASSWORD)).json()
    two = (await login(client, operator.user.username, PASSWORD)).json()
    out = await client.post("/api/v1/auth/logout", headers=bearer(one["access_token"]))
    assert out.status_code == 200 and out.json()["revoked_tokens"] == 1
    assert (await client.get(ME, headers=bearer(one["access_token"]))).status_code == 401
    assert (
        await client.post(REFRESH, json={"refresh_token": one["refresh_token"]})
    ).status_code == 401
    assert (await client.get(ME, headers=bearer(two["access_token"]))).status_code == 200


async def test_logout_everywhere_ends_every_session(
    client: httpx.AsyncClient, session: AsyncSession, operator: Account
) -> None:
    one = (await login(client, operator.user.username, PASSWORD)).json()
    two = (await login(client, operator.user.username, PASSWORD)).json()
    out = await client.post(
        "/api/v1/auth/logout", json={"everywhere": True}, headers=bearer(one["access_token"])
    )
    assert out.status_code == 200
    for pair in (one, two):
        assert (await client.get(ME, headers=bearer(pair["access_token"]))).status_code == 401
    assert (await client.get(ME, headers=operator.headers)).status_code == 401
    [event] = await actions(session, "auth.logout")
    assert event.details == {"everywhere": True}


async def test_changing_the_password_ends_every_other_token(
    client: httpx.AsyncClient, session: AsyncSession, operator: Account
) -> None:
    other = (await login(client, operator.user.username, PASSWORD)).json()
    new = "a-much-better-passphrase-42"
    response = await client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": new},
        headers=operator.headers,
    )
    assert response.status_code == 200, response.text
    fresh = response.json()
    assert (await client.get(ME, headers=bearer(fresh["access_token"]))).status_code == 200
    assert (await client.get(ME, headers=operator.headers)).status_code == 401
    assert (await client.get(ME, headers=bearer(other["access_token"]))).status_code == 401
    assert (
        await client.post(REFRESH, json={"refresh_token": other["refresh_token"]})
    ).status_code == 401
    assert (await login(client, operator.user.username, PASSWORD)).status_code == 401
    assert (await login(client, operator.user.username, new)).status_code == 200
    [event] = await actions(session, "auth.password_change")
    assert event.outcome == "success" and new not in str(event.details)


@pytest.mark.parametrize(
    ("current", "new", "field", "message"),
    [
        ("wrong-current-password", "a-much-better-passphrase-42", "current_password", "match"),
        (PASSWORD, "short", "new_password", "at least 12"),
        (PASSWORD, "password1234", "new_password", "too common"),
        (PASSWORD, "aaaaaaaaaaaaaaaa", "new_password", "too common"),
        (PASSWORD, PASSWORD, "new_password", "differ"),
        (PASSWORD, " padded-passphrase-42 ", "new_password", "whitespace"),
    ],
)
async def test_password_changes_are_checked(
    client: httpx.AsyncClient,
    operator: Account,
    current: str,
    new: str,
    field: str,
    message: str,
) -> None:
    response = await client.post(
        "/api/v1/auth/password",
        json={"current_password": current, "new_password": new},
        headers=operator.headers,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["details"][0]["field"] == field
    assert message in error["message"]
    assert (await client.get(ME, headers=operator.headers)).status_code == 200


async def test_a_password_may_not_contain_the_username(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    account = await make_account(Role.viewer, username="margaret")
    response = await client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "Margaret-1234567"},
        headers=account.headers,
    )
    assert response.status_code == 400
    assert "username" in response.json()["error"]["message"]


# -- brute force ------------------------------------------------------------------------------


async def test_failed_logins_lock_the_username_with_retry_after(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, operator: Account
) -> None:
    name = operator.user.username
    for _ in range(settings.login_max_failures_per_user):
        assert (await login(client, name, "not the password")).status_code == 401
    locked = await login(client, name, PASSWORD)  # even the right password, while locked
    assert locked.status_code == 429
    retry_after = int(locked.headers["Retry-After"])
    assert 0 < retry_after <= settings.login_lockout_seconds
    assert "username" in locked.json()["error"]["message"]
    assert (await login(client, name, PASSWORD)).status_code == 429
    # The first refusal is audited, not the whole flood.
    [throttled] = await actions(session, "auth.login_throttled")
    assert throttled.details["locked"] == "username"
    # Other users are not locked out by it.
    other = await client.post(
        "/api/v1/auth/login",
        json={"username": (await _another(session)).username, "password": PASSWORD},
    )
    assert other.status_code == 200


async def _another(session: AsyncSession) -> User:
    from tests.fixtures.auth import _HASH

    user = User(username="bystander", password_hash=_HASH, role=Role.viewer)
    session.add(user)
    await session.flush()
    return user


async def test_unknown_usernames_are_locked_too(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    for _ in range(settings.login_max_failures_per_user):
        assert (await login(client, "ghost", "x")).status_code == 401
    assert (await login(client, "ghost", "x")).status_code == 429


async def test_a_success_clears_the_username_count(
    client: httpx.AsyncClient, settings: Settings, operator: Account
) -> None:
    name = operator.user.username
    for _ in range(settings.login_max_failures_per_user - 1):
        await login(client, name, "not the password")
    assert (await login(client, name, PASSWORD)).status_code == 200
    for _ in range(settings.login_max_failures_per_user - 1):
        await login(client, name, "not the password")
    assert (await login(client, name, PASSWORD)).status_code == 200


async def test_one_address_spraying_many_usernames_is_locked(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    settings.login_max_failures_per_ip = 4
    for index in range(4):
        assert (await login(client, f"user{index}", "x")).status_code == 401
    response = await login(client, "user-new", "x")
    assert response.status_code == 429
    assert "address" in response.json()["error"]["message"]


async def test_the_limit_holds_across_api_replicas(
    app: FastAPI, settings: Settings, test_services: TestServices, operator: Account
) -> None:
    """Two API processes share one Redis: failures on one count on the other."""
    other_app = create_app(settings)
    other_app.dependency_overrides = app.dependency_overrides
    transports = [
        httpx.ASGITransport(app=each, raise_app_exceptions=False) for each in (app, other_app)
    ]
    async with other_app.router.lifespan_context(other_app):
        clients = [httpx.AsyncClient(transport=t, base_url="http://orca.test") for t in transports]
        for attempt in range(settings.login_max_failures_per_user):
            response = await login(clients[attempt % 2], operator.user.username, "nope")
            assert response.status_code == 401
        for each in clients:
            assert (await login(each, operator.user.username, PASSWORD)).status_code == 429
            await each.aclose()


# -- the refusal's audit row is committed for real --------------------------------------------


async def test_refusals_keep_their_audit_rows_on_a_real_transaction(
    fresh_database_url: str, test_services: TestServices, redis: object
) -> None:
    """Without the test's shared session: a failed login answers 401 and its audit row is
    committed all the same."""
    from sqlalchemy.ext.asyncio import create_async_engine

    settings = make_settings(fresh_database_url, test_services.redis_url)
    application = create_app(settings)
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=transport, base_url="http://orca.test") as client,
    ):
        assert (await login(client, "nobody", "x")).status_code == 401
    engine = create_async_engine(fresh_database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(AuditEvent.action, AuditEvent.actor_username))).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [("auth.login_failed", None)]


# -- under real concurrency, on a database of the test's own ----------------------------------


async def test_two_refreshes_with_one_token_at_once_end_the_session(live: LiveApp) -> None:
    """Two requests race with the same refresh token: the row lock decides them in turn, the
    second is a reuse, and the whole session ends."""
    async with live.session() as session:
        account = await add_account(session, live.settings, Role.operator, "racer")
    pair = (await login(live.client, "racer", PASSWORD)).json()
    answers = await asyncio.gather(
        *(
            live.client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
            for _ in range(2)
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 401]
    winner = next(a for a in answers if a.status_code == 200).json()
    assert (
        await live.client.post(REFRESH, json={"refresh_token": winner["refresh_token"]})
    ).status_code == 401
    assert (await live.client.get(ME, headers=bearer(winner["access_token"]))).status_code == 401
    async with live.session() as session:
        reuse = await actions(session, "auth.refresh_reuse")
    assert [e.actor_id for e in reuse] == [account.user.id]


async def test_a_burst_of_parallel_guesses_gets_no_more_than_the_limit(live: LiveApp) -> None:
    async with live.session() as session:
        await add_account(session, live.settings, Role.viewer, "target")
    answers = await asyncio.gather(*(login(live.client, "target", f"guess-{n}") for n in range(20)))
    codes = [a.status_code for a in answers]
    assert codes.count(401) == live.settings.login_max_failures_per_user
    assert codes.count(429) == 20 - live.settings.login_max_failures_per_user


def test_ipv6_clients_are_counted_by_their_slash_64() -> None:
    assert address_bucket("2001:db8:1:2:aaaa::1") == address_bucket("2001:db8:1:2:bbbb::9")
    assert address_bucket("2001:db8:1:3::1") != address_bucket("2001:db8:1:2::1")
    assert address_bucket("192.0.2.7") == "192.0.2.7"


@pytest.mark.parametrize(
    "body",
    [{"username": "a\u0000b", "password": "x"}, {"username": "alice", "password": 12}],
)
async def test_hostile_login_bodies_are_4xx(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post("/api/v1/auth/login", json=body)
    assert response.status_code == 422
