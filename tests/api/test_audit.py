"""The audit API: query with filters and keyset pages, streamed exports, chain verification;
and the chain staying whole under many parallel requests to a real API process."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.core.config import Settings
from app.models import User
from app.models.enums import AuditOutcome, Role
from app.repositories import audit as audit_repo
from app.services import audit
from tests.fixtures.app import LiveApp
from tests.fixtures.auth import _HASH, PASSWORD, Account, MakeAccount, login, token_for
from tests.fixtures.processes import ORCA, Processes, wait_for

AUDIT = "/api/v1/audit"


@pytest.fixture
async def auditor(make_account: MakeAccount) -> Account:
    return await make_account(Role.auditor)


async def _sample(session: AsyncSession, actor: Account) -> None:
    await audit.record(session, "auth.login", actor=actor.user)
    await audit.record(
        session, "auth.login_failed", actor_username="mallory", outcome=AuditOutcome.failure
    )
    await audit.record(
        session,
        "team.create",
        actor=actor.user,
        target_type="team",
        target_id="t-1",
        details={"name": "Blue Whales"},
    )
    await audit.record(
        session,
        "access.denied",
        actor=actor.user,
        outcome=AuditOutcome.denied,
        details={"permission": "users:manage"},
    )
    await audit_repo.write_pending(session)  # queued until the commit otherwise


async def _actions(client: httpx.AsyncClient, account: Account, **params: object) -> list[str]:
    response = await client.get(AUDIT, params=params, headers=account.headers)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return [item["action"] for item in response.json()["items"]]


async def test_query_filters(
    client: httpx.AsyncClient, session: AsyncSession, auditor: Account
) -> None:
    await _sample(session, auditor)
    everything = await _actions(client, auditor)
    assert everything == ["access.denied", "team.create", "auth.login_failed", "auth.login"]
    assert await _actions(client, auditor, action="auth.*") == ["auth.login_failed", "auth.login"]
    assert await _actions(client, auditor, action="auth.login") == ["auth.login"]
    assert await _actions(client, auditor, actor="MALLORY") == ["auth.login_failed"]
    assert await _actions(client, auditor, actor_id=str(auditor.user.id)) == [
        "access.denied",
        "team.create",
        "auth.login",
    ]
    assert await _actions(client, auditor, outcome="denied") == ["access.denied"]
    assert await _actions(client, auditor, target_type="team", target_id="t-1") == ["team.create"]
    assert await _actions(client, auditor, q="blue whale") == ["team.create"]
    assert await _actions(client, auditor, q="users:manage") == ["access.denied"]
    assert await _actions(client, auditor, q="100%") == []
    assert await _actions(client, auditor, sort="seq") == list(reversed(everything))
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await _actions(client, auditor, since=future) == []
    assert len(await _actions(client, auditor, until=future)) == 4


async def test_rows_carry_the_chain_and_the_client(
    client: httpx.AsyncClient, session: AsyncSession, auditor: Account
) -> None:
    await client.get("/api/v1/users", headers={**auditor.headers, "User-Agent": "probe/1.0"})
    team = await client.post(
        "/api/v1/teams", json={"name": "x"}, headers={**auditor.headers, "User-Agent": "probe/1.0"}
    )
    assert team.status_code == 403
    [row] = (await client.get(AUDIT, headers=auditor.headers)).json()["items"]
    assert row["action"] == "access.denied"
    assert row["user_agent"] == "probe/1.0" and row["client_ip"] == "127.0.0.1"
    assert row["request_id"] == team.headers["X-Request-ID"]
    assert len(row["row_hash"]) == 64 and row["prev_hash"] == "0" * 64


async def test_keyset_pages_walk_everything_once(
    client: httpx.AsyncClient, session: AsyncSession, auditor: Account
) -> None:
    for index in range(7):
        await audit.record(session, "test.event", details={"n": index})
    await audit_repo.write_pending(session)
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 3, "action": "test.event"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(AUDIT, params=params, headers=auditor.headers)).json()  # type: ignore[arg-type]
        assert page["total"] is None
        seen += [item["details"]["n"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [6, 5, 4, 3, 2, 1, 0]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-01T00:00:00"}, "since"),  # no time zone: ambiguous
        ({"since": "0001-01-01T00:30:00+01:00"}, "since"),  # before year 1 in UTC
        ({"actor": "a\u0000b"}, "actor"),
        ({"q": "a\u0000b"}, "q"),
        ({"outcome": "maybe"}, "outcome"),
        ({"actor_id": "me"}, "actor_id"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"limit": 10_000}, "limit"),
        ({"cursor": "!!!"}, "cursor"),
        ({"q": ""}, "q"),
    ],
)
async def test_bad_filters_are_named(
    client: httpx.AsyncClient, auditor: Account, params: dict[str, object], field: str
) -> None:
    response = await client.get(AUDIT, params=params, headers=auditor.headers)  # type: ignore[arg-type]
    assert response.status_code in {400, 422}, response.text
    assert response.json()["error"]["details"][0]["field"] == field


async def test_verify_reports_an_intact_chain_and_a_tampered_one(
    client: httpx.AsyncClient, session: AsyncSession, auditor: Account
) -> None:
    await _sample(session, auditor)
    report = (await client.get(f"{AUDIT}/verify", headers=auditor.headers)).json()
    assert report["ok"] is True and report["rows_checked"] == 4 and report["broken_at_seq"] is None
    anchored = await client.get(
        f"{AUDIT}/verify",
        params={"anchor": f"{report['head_seq']}:{report['head_hash']}"},
        headers=auditor.headers,
    )
    assert anchored.json()["ok"] is True
    bad = await client.get(f"{AUDIT}/verify", params={"anchor": "4:xyz"}, headers=auditor.headers)
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"] == "anchor"

    # What a database superuser could do: switch the guard off and rewrite history.
    await session.execute(text("SET LOCAL session_replication_role = replica"))
    await session.execute(text("UPDATE audit_log SET actor_username = 'nobody' WHERE seq = 2"))
    await session.execute(text("SET LOCAL session_replication_role = origin"))
    report = (await client.get(f"{AUDIT}/verify", headers=auditor.headers)).json()
    assert report["ok"] is False
    assert report["broken_at_seq"] == 2 and report["rows_checked"] == 1
    assert report["problem"] == "row_hash does not match the row's contents"
    results = [
        item["outcome"]
        for item in (
            await client.get(AUDIT, params={"action": "audit.verify"}, headers=auditor.headers)
        ).json()["items"]
    ]
    assert results == ["failure", "success", "success"]


async def _orca(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [*ORCA, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- against committed data: exports read in their own transactions ---------------------------


@pytest.fixture
async def committed(live: LiveApp) -> tuple[httpx.AsyncClient, Account, Settings]:
    """The live app, an auditor, and 2,500 committed audit rows."""
    async with live.session() as session:
        user = User(username="inspector", password_hash=_HASH, role=Role.auditor)
        session.add(user)
        await session.flush()
        for index in range(2500):
            await audit.record(
                session,
                "=cmd|' /C calc'!A0" if index == 0 else "test.bulk",
                actor=user,
                details={"n": index, "note": 'comma, "quote"\nnewline'},
            )
        await session.commit()
    return live.client, Account(user, PASSWORD, token_for(live.settings, user)), live.settings


async def test_export_ndjson_streams_every_row_oldest_first(
    committed: tuple[httpx.AsyncClient, Account, Settings],
) -> None:
    client, auditor, _ = committed
    async with client.stream(
        "GET", f"{AUDIT}/export", params={"format": "ndjson"}, headers=auditor.headers
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        assert "attachment" in response.headers["content-disposition"]
        lines = [line async for line in response.aiter_lines() if line]
    rows = [json.loads(line) for line in lines]
    # Every row, and last the export's own row, committed before the stream began.
    assert [row["seq"] for row in rows] == list(range(1, 2502))
    assert rows[-1]["action"] == "audit.export" and rows[-1]["details"]["format"] == "ndjson"
    assert rows[1]["details"] == {"n": 1, "note": 'comma, "quote"\nnewline'}
    filtered = await client.get(
        f"{AUDIT}/export", params={"format": "ndjson", "action": "=cmd*"}, headers=auditor.headers
    )
    assert len(filtered.text.splitlines()) == 1


async def test_export_csv_is_spreadsheet_safe(
    committed: tuple[httpx.AsyncClient, Account, Settings],
) -> None:
    client, auditor, _ = committed
    response = await client.get(
        f"{AUDIT}/export", params={"format": "csv"}, headers=auditor.headers
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 2501 and rows[-1]["action"] == "audit.export"
    assert rows[0]["action"] == "'=cmd|' /C calc'!A0"  # a formula is not a formula any more
    assert json.loads(rows[1]["details"]) == {"n": 1, "note": 'comma, "quote"\nnewline'}
    # The export is itself on the record, and the chain holds.
    verify = (await client.get(f"{AUDIT}/verify", headers=auditor.headers)).json()
    assert verify["ok"] and verify["rows_checked"] == 2501


async def test_orca_audit_verify_on_the_command_line(
    committed: tuple[httpx.AsyncClient, Account, Settings],
    orca_env: dict[str, str],
    fresh_database_url: str,
) -> None:
    env = {**orca_env, "ORCA_DATABASE_URL": fresh_database_url}
    ok = await _orca(["audit", "verify", "--database"], env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("audit chain intact: 2500 rows; head (keep it, pass it back")
    head = ok.stdout.strip().rsplit(" ", 1)[1]
    assert head.startswith("2500:") and len(head) == 5 + 64
    anchored = await _orca(["audit", "verify", "--database", "--anchor", head], env)
    assert anchored.returncode == 0, anchored.stderr
    malformed = await _orca(["audit", "verify", "--database", "--anchor", "2500"], env)
    assert malformed.returncode == 2 and "--anchor" in malformed.stderr

    engine = create_async_engine(fresh_database_url)
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text("DELETE FROM audit_log WHERE seq = 1200"))
    await engine.dispose()
    broken = await _orca(["audit", "verify", "--database"], env)
    assert broken.returncode == 1
    assert broken.stderr.strip() == (
        "audit chain BROKEN at seq 1201: rows 1200..1200 are missing (1199 rows verified before it)"
    )


# -- a real API process and parallel clients --------------------------------------------------


async def test_parallel_requests_to_a_real_api_form_one_chain(
    processes: Processes, orca_env: dict[str, str], api_port: int
) -> None:
    created = await _orca(["create-admin", "chief", "--password-stdin"], orca_env, PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    env = {**orca_env, "ORCA_API_PORT": str(api_port), "ORCA_LOGIN_MAX_FAILURES_PER_IP": "1000"}
    processes.start(["api"], env, "api")
    base = f"http://127.0.0.1:{api_port}"
    wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200, 60, "the API")
    # The container health check reads the same port from the same settings.
    check = await _orca(["healthcheck", "api"], env)
    assert check.returncode == 0 and check.stdout.strip() == "api: healthy", check.stderr

    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        token = (await login(client, "chief", PASSWORD)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        async def create_team(index: int) -> int:
            response = await client.post(
                "/api/v1/teams", json={"name": f"t{index}"}, headers=headers
            )
            return response.status_code

        async def fail_login(index: int) -> int:
            return (await login(client, f"intruder{index}", "x")).status_code

        codes = await asyncio.gather(
            *(create_team(i) for i in range(40)), *(fail_login(i) for i in range(20))
        )
        assert codes.count(201) == 40 and codes.count(401) == 20
        report = (await client.get(f"{AUDIT}/verify", headers=headers)).json()
    # create-admin, the login, 40 teams, 20 failures: one unbroken chain of 62 rows.
    assert report == {
        "ok": True,
        "rows_checked": 62,
        "head_seq": 62,
        "head_hash": report["head_hash"],
        "broken_at_seq": None,
        "problem": None,
    }
