"""Scan and trust a host key, then test the connection, through the API against a real sshd."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, System
from tests.fixtures.auth import Account
from tests.fixtures.sshd import SshAccount, SshServer

SYSTEMS = "/api/v1/systems"


async def _ssh_system(
    client: httpx.AsyncClient, admin: Account, server: SshServer, account: SshAccount, **extra: Any
) -> dict[str, Any]:
    secret = (
        {"kind": "ssh-password", "secret": {"password": account.password}}
        if account.password
        else {"kind": "ssh-key", "secret": {"private_key": account.keys["ed25519"].private}}
    )
    credential = await client.post(
        "/api/v1/credentials",
        json={"name": f"cred-{server.port}", "username": account.username, **secret},
        headers=admin.headers,
    )
    assert credential.status_code == 201, credential.text
    response = await client.post(
        SYSTEMS,
        json={
            "name": f"ssh-{server.port}",
            "connector": "ssh",
            "host": "127.0.0.1",
            "port": server.port,
            "credential_id": credential.json()["id"],
            **extra,
        },
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_scan_trust_then_test(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: Account,
    sshd: SshServer,
    ssh_account: SshAccount,
) -> None:
    system = await _ssh_system(client, admin, sshd, ssh_account)
    url = f"{SYSTEMS}/{system['id']}"
    assert system["port"] == sshd.port and system["host_key_fingerprint"] is None

    # Before any key is trusted, nothing is sent to the host.
    first = (await client.post(f"{url}/test", headers=admin.headers)).json()
    assert first["ok"] is False and first["category"] == "host_key"
    assert sshd.host_key.fingerprint in first["message"]
    unknown = (await client.get(url, headers=admin.headers)).json()
    assert unknown["health_status"] == "host_key_unknown"

    scan = (await client.post(f"{url}/host-key/scan", headers=admin.headers)).json()
    assert scan["fingerprint"] == sshd.host_key.fingerprint and scan["matches_pinned"] is False
    wrong = await client.post(
        f"{url}/host-key/trust", json={"fingerprint": "SHA256:notthatone"}, headers=admin.headers
    )
    assert (
        wrong.status_code == 409 and sshd.host_key.fingerprint in wrong.json()["error"]["message"]
    )
    trusted = await client.post(
        f"{url}/host-key/trust", json={"fingerprint": scan["fingerprint"]}, headers=admin.headers
    )
    assert trusted.status_code == 200
    assert trusted.json()["host_key_fingerprint"] == sshd.host_key.fingerprint

    result = (await client.post(f"{url}/test", headers=admin.headers)).json()
    assert result["ok"] is True and result["latency_ms"] > 0
    row = await session.get(System, system["id"])
    assert row is not None
    await session.refresh(row)
    assert row.health_status == "healthy" and row.last_checked_at is not None

    actions = (
        await session.execute(
            select(AuditEvent.action, AuditEvent.outcome)
            .where(AuditEvent.target_id == system["id"])
            .order_by(AuditEvent.seq)
        )
    ).all()
    assert [tuple(a) for a in actions] == [
        ("system.create", "success"),
        ("system.test", "failure"),
        ("system.host_key_scan", "success"),
        ("system.host_key_scan", "success"),
        ("system.host_key_trust", "success"),
        ("system.test", "success"),
    ]


async def test_a_changed_host_key_fails_the_test_and_marks_the_system(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: Account,
    sshd: SshServer,
    make_sshd: Any,
    ssh_account: SshAccount,
) -> None:
    rebuilt = make_sshd()
    # Pinned to the old server's key, but the host now answers with another.
    system = await _ssh_system(client, admin, rebuilt, ssh_account, host_key=sshd.host_key_line)
    result = (await client.post(f"{SYSTEMS}/{system['id']}/test", headers=admin.headers)).json()
    assert result["ok"] is False and result["category"] == "host_key"
    assert sshd.host_key.fingerprint in result["message"]
    assert rebuilt.host_key.fingerprint in result["message"]
    fetched = (await client.get(f"{SYSTEMS}/{system['id']}", headers=admin.headers)).json()
    assert fetched["health_status"] == "host_key_mismatch"


async def test_wrong_credentials_and_closed_ports_are_categorised(
    client: httpx.AsyncClient, admin: Account, sshd: SshServer, ssh_account: SshAccount
) -> None:
    from app.core.embedded import free_port

    closed = await client.post(
        SYSTEMS,
        json={"name": "closed", "connector": "ssh", "host": "127.0.0.1", "port": free_port()},
        headers=admin.headers,
    )
    result = (
        await client.post(f"{SYSTEMS}/{closed.json()['id']}/test", headers=admin.headers)
    ).json()
    assert result["category"] == "refused"
    if ssh_account.password is None:
        pytest.skip("password logins need root")
    bad = await client.post(
        "/api/v1/credentials",
        json={
            "name": "bad",
            "kind": "ssh-password",
            "username": ssh_account.username,
            "secret": {"password": "wrong-password"},
        },
        headers=admin.headers,
    )
    system = await client.post(
        SYSTEMS,
        json={
            "name": "bad-login",
            "connector": "ssh",
            "host": "127.0.0.1",
            "port": sshd.port,
            "credential_id": bad.json()["id"],
            "host_key": sshd.host_key_line,
        },
        headers=admin.headers,
    )
    result = (
        await client.post(f"{SYSTEMS}/{system.json()['id']}/test", headers=admin.headers)
    ).json()
    assert result["category"] == "auth" and "wrong-password" not in str(result)


async def test_managers_trust_a_first_key_but_only_admins_replace_one(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: Account,
    make_account: Any,
    make_group: Any,
    sshd: SshServer,
    make_sshd: Any,
    ssh_account: SshAccount,
) -> None:
    import uuid

    from app.models import Grant, Team, TeamMember
    from app.models.enums import GrantLevel, Role

    group = await make_group()
    system = await _ssh_system(client, admin, sshd, ssh_account, group_ids=[str(group.id)])
    manager = await make_account(Role.operator)
    team = Team(name=f"t-{uuid.uuid4().hex[:6]}")
    session.add(team)
    await session.flush()
    session.add_all(
        [
            TeamMember(team_id=team.id, user_id=manager.user.id),
            Grant(team_id=team.id, group_id=group.id, level=GrantLevel.manage),
        ]
    )
    await session.flush()
    url = f"{SYSTEMS}/{system['id']}"
    fingerprint = sshd.host_key.fingerprint
    first = await client.post(
        f"{url}/host-key/trust", json={"fingerprint": fingerprint}, headers=manager.headers
    )
    assert first.status_code == 200, first.text
    again = await client.post(
        f"{url}/host-key/trust", json={"fingerprint": fingerprint}, headers=manager.headers
    )
    assert again.status_code == 403 and "only admins" in again.json()["error"]["message"]
    given = await client.put(
        f"{url}/host-key", json={"host_key": sshd.host_key_line}, headers=manager.headers
    )
    assert given.status_code == 403
