"""Systems through the API: admins add and connect them, managers edit them, imports are
all or nothing."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, Grant, System, Team, TeamMember
from app.models.enums import GrantLevel, Role
from tests.fixtures.auth import Account, MakeAccount
from tests.fixtures.keys import make_ssh_key
from tests.fixtures.systems import MakeGroup

SYSTEMS = "/api/v1/systems"


def _local(name: str = "box", **extra: Any) -> dict[str, Any]:
    return {"name": name, "connector": "local", "host": "localhost", **extra}


async def _create(client: httpx.AsyncClient, admin: Account, **body: Any) -> dict[str, Any]:
    response = await client.post(SYSTEMS, json=_local(**body), headers=admin.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_an_admin_adds_a_system_with_labels_groups_and_a_pinned_key(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: Account,
    make_group: MakeGroup,
    tmp_path: Path,
) -> None:
    group = await make_group("web")
    key = make_ssh_key(tmp_path, "ed25519")
    created = await _create(
        client,
        admin,
        name="web-1",
        labels={"env": "prod", "role": "web"},
        group_ids=[str(group.id)],
        host_key=f"web-1.example.com {key.public}",
    )
    assert created["labels"] == {"env": "prod", "role": "web"}
    assert created["group_ids"] == [str(group.id)]
    assert created["host_key_fingerprint"] == key.fingerprint
    assert created["host_key"].startswith("ssh-ed25519 ") and "orca-test" not in created["host_key"]
    assert created["health_status"] == "unknown" and created["port"] is None
    event = (
        await session.execute(select(AuditEvent).where(AuditEvent.action == "system.create"))
    ).scalar_one()
    assert event.details["host_key_fingerprint"] == key.fingerprint


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (_local(connector="telnet"), 400, "connector"),
        (_local(host="not a host!"), 422, "host"),
        (_local(port=70000), 422, "port"),
        (_local(labels={"bad key": "x"}), 422, "labels"),
        (_local(options={"jump_host": "x"}), 400, "options.jump_host"),
        (_local(host_key="ssh-ed25519 AAAAnope"), 400, "host_key"),
        (_local(group_ids=[str(uuid.uuid4())]), 404, "group_ids"),
        (_local(credential_id=str(uuid.uuid4())), 400, "credential_id"),
        (_local(name="a/b"), 422, "name"),
    ],
)
async def test_bad_systems_name_the_field(
    client: httpx.AsyncClient, admin: Account, body: dict[str, Any], status: int, field: str
) -> None:
    response = await client.post(SYSTEMS, json=body, headers=admin.headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["details"][0]["field"] == field


async def test_an_unknown_connector_lists_the_installed_ones(
    client: httpx.AsyncClient, admin: Account
) -> None:
    response = await client.post(SYSTEMS, json=_local(connector="telnet"), headers=admin.headers)
    assert "installed: " in response.json()["error"]["message"]
    assert "local" in response.json()["error"]["message"]


async def test_a_credential_must_suit_the_connector(
    client: httpx.AsyncClient, admin: Account
) -> None:
    credential = (
        await client.post(
            "/api/v1/credentials",
            json={
                "name": "c",
                "kind": "ssh-password",
                "username": "u",
                "secret": {"password": "p"},
            },
            headers=admin.headers,
        )
    ).json()
    response = await client.post(
        SYSTEMS, json=_local(credential_id=credential["id"]), headers=admin.headers
    )
    assert response.status_code == 400
    assert "cannot be used with the local connector" in response.json()["error"]["message"]


async def test_names_are_unique_without_regard_to_case(
    client: httpx.AsyncClient, admin: Account
) -> None:
    await _create(client, admin, name="DB-1")
    response = await client.post(SYSTEMS, json=_local(name="db-1"), headers=admin.headers)
    assert response.status_code == 409


async def _manager(
    session: AsyncSession, make_account: MakeAccount, group_ids: list[str], level: GrantLevel
) -> Account:
    operator = await make_account(Role.operator)
    team = Team(name=f"t-{uuid.uuid4().hex[:6]}")
    session.add(team)
    await session.flush()
    session.add(TeamMember(team_id=team.id, user_id=operator.user.id))
    for group_id in group_ids:
        session.add(Grant(team_id=team.id, group_id=uuid.UUID(group_id), level=level))
    await session.flush()
    return operator


async def test_a_manager_edits_but_does_not_reconnect(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: Account,
    make_account: MakeAccount,
    make_group: MakeGroup,
    tmp_path: Path,
) -> None:
    mine, theirs = await make_group("mine"), await make_group("theirs")
    key = make_ssh_key(tmp_path)
    system = await _create(client, admin, group_ids=[str(mine.id)], host_key=key.public)
    manager = await _manager(session, make_account, [str(mine.id)], GrantLevel.manage)
    url = f"{SYSTEMS}/{system['id']}"

    edited = await client.patch(
        url, json={"labels": {"tier": "1"}, "description": "the box"}, headers=manager.headers
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["labels"] == {"tier": "1"}

    for change in (
        {"host": "10.9.9.9"},
        {"port": 2222},
        {"connector": "ssh"},
        {"credential_id": str(uuid.uuid4())},
        {"options": {}},
    ):
        rerouted = await client.patch(url, json=change, headers=manager.headers)
        assert rerouted.status_code == 400, change
        assert "only admins" in rerouted.json()["error"]["message"]
    joined = await client.patch(
        url, json={"group_ids": [str(mine.id), str(theirs.id)]}, headers=manager.headers
    )
    assert joined.status_code == 400 and "do not manage" in joined.json()["error"]["message"]

    # An admin moves it to another host: the pinned key no longer speaks for it.
    moved = await client.patch(url, json={"host": "10.9.9.9"}, headers=admin.headers)
    assert moved.json()["host"] == "10.9.9.9" and moved.json()["host_key_fingerprint"] is None


async def test_view_is_not_enough_to_edit_and_invisible_is_404(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: Account,
    make_account: MakeAccount,
    make_group: MakeGroup,
) -> None:
    group = await make_group()
    system = await _create(client, admin, group_ids=[str(group.id)])
    viewer_operator = await _manager(session, make_account, [str(group.id)], GrantLevel.view)
    outsider = await make_account(Role.operator)
    url = f"{SYSTEMS}/{system['id']}"
    refused = await client.patch(url, json={"labels": {}}, headers=viewer_operator.headers)
    assert refused.status_code == 403
    assert (
        await client.patch(url, json={"labels": {}}, headers=outsider.headers)
    ).status_code == 404


async def test_pin_a_host_key_and_delete(
    client: httpx.AsyncClient, session: AsyncSession, admin: Account, tmp_path: Path
) -> None:
    system = await _create(client, admin)
    key = make_ssh_key(tmp_path, "ecdsa")
    pinned = await client.put(
        f"{SYSTEMS}/{system['id']}/host-key", json={"host_key": key.public}, headers=admin.headers
    )
    assert pinned.json()["host_key_fingerprint"] == key.fingerprint
    trust = (
        await session.execute(
            select(AuditEvent).where(AuditEvent.action == "system.host_key_trust")
        )
    ).scalar_one()
    assert trust.details["to"] == key.fingerprint and trust.details["how"] == "given"
    assert (
        await client.delete(f"{SYSTEMS}/{system['id']}", headers=admin.headers)
    ).status_code == 200
    assert (await session.get(System, uuid.UUID(system["id"]))) is None


async def test_import_json_creates_everything(
    client: httpx.AsyncClient, admin: Account, make_group: MakeGroup
) -> None:
    await make_group("web")
    rows = [_local(name=f"node-{i}", groups=["web"], labels={"n": str(i)}) for i in range(20)]
    response = await client.post(f"{SYSTEMS}/import", json=rows, headers=admin.headers)
    assert response.status_code == 201, response.text
    assert response.json()["created"] == 20
    listed = await client.get(SYSTEMS, params={"q": "node-"}, headers=admin.headers)
    assert listed.json()["total"] == 20


async def test_import_is_all_or_nothing_with_every_problem_listed(
    client: httpx.AsyncClient, admin: Account
) -> None:
    await _create(client, admin, name="taken")
    rows = [
        _local(name="fine-1"),
        _local(name="fine-2", port="not a port"),
        _local(name="TAKEN"),
        _local(name="fine-1"),
        _local(name="fine-3", groups=["no-such-group"]),
        _local(name="fine-4", connector="telnet"),
    ]
    response = await client.post(f"{SYSTEMS}/import", json=rows, headers=admin.headers)
    assert response.status_code == 400
    problems = {(d["row"], d["field"]) for d in response.json()["error"]["details"]}
    assert problems == {(2, "port"), (3, "name"), (4, "name"), (5, "groups"), (6, "connector")}
    assert "5 of 6 rows" in response.json()["error"]["message"]
    listed = await client.get(SYSTEMS, params={"q": "fine"}, headers=admin.headers)
    assert listed.json()["total"] == 0


async def test_import_csv(client: httpx.AsyncClient, admin: Account, make_group: MakeGroup) -> None:
    await make_group("db")
    csv_text = (
        "name,connector,host,groups,labels,description\n"
        "db-1,local,localhost,db,env=prod;role=db,primary\n"
        'db-2,local,localhost,,env=dev,"replica, lagging"\n'
    )
    response = await client.post(
        f"{SYSTEMS}/import",
        content=csv_text.encode(),
        headers={**admin.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    listed = (await client.get(SYSTEMS, params={"label": "env=prod"}, headers=admin.headers)).json()
    assert [(s["name"], s["labels"]) for s in listed["items"]] == [
        ("db-1", {"env": "prod", "role": "db"})
    ]
    bad_header = await client.post(
        f"{SYSTEMS}/import",
        content=b"name,password\nx,y\n",
        headers={**admin.headers, "Content-Type": "text/csv"},
    )
    assert bad_header.status_code == 400
    assert bad_header.json()["error"]["details"][0]["field"] == "header"


async def test_import_csv_reads_whole_numbers_and_names_cells_that_are_not(
    client: httpx.AsyncClient, admin: Account, tmp_path: Path
) -> None:
    """Every CSV cell is text: port and max_concurrency must still import (JSON bodies take
    strict integers), and a cell that is no whole number is a row error naming the column."""
    bad = await client.post(
        f"{SYSTEMS}/import",
        content=b"name,host,port,connector\nn-1,10.9.0.1,22,ssh\nn-2,10.9.0.2,2x,ssh\n"
        b"n-3,10.9.0.3,99999,ssh\nn-4,10.9.0.4,\xd9\xa2\xd9\xa2,ssh\n",
        headers={**admin.headers, "Content-Type": "text/csv"},
    )
    assert bad.status_code == 400, bad.text
    faults = [(d["row"], d["field"]) for d in bad.json()["error"]["details"]]
    assert faults == [(2, "port"), (3, "port"), (4, "port")]
    key = make_ssh_key(tmp_path, "ed25519")
    good = await client.post(
        f"{SYSTEMS}/import",
        content=(
            "name,host,port,connector,max_concurrency,host_key\n"
            f"n-1,10.9.0.1,2222,ssh,3,{key.public}\n"
        ).encode(),
        headers={**admin.headers, "Content-Type": "text/csv"},
    )
    assert good.status_code == 201, good.text
    system = (await client.get(f"{SYSTEMS}/{good.json()['ids'][0]}", headers=admin.headers)).json()
    assert (system["port"], system["max_concurrency"]) == (2222, 3)


async def test_resending_the_same_connector_keeps_port_and_key(
    client: httpx.AsyncClient, admin: Account, tmp_path: Path
) -> None:
    key = make_ssh_key(tmp_path)
    created = await client.post(
        SYSTEMS,
        json={
            "name": "keep",
            "connector": "ssh",
            "host": "10.1.1.1",
            "port": 2222,
            "host_key": key.public,
        },
        headers=admin.headers,
    )
    same = await client.patch(
        f"{SYSTEMS}/{created.json()['id']}", json={"connector": "ssh"}, headers=admin.headers
    )
    assert same.json()["port"] == 2222 and same.json()["host_key_fingerprint"] == key.fingerprint


@pytest.mark.parametrize(
    ("rows", "field"),
    [
        ([_local(name="x", groups="web")], "groups"),
        ([_local(name="x", group_ids="nope")], "group_ids"),
        ([_local(name="x", credential_name="c")], "credential_name"),
    ],
)
async def test_import_rows_of_the_wrong_shape_are_row_errors(
    client: httpx.AsyncClient, admin: Account, rows: list[dict[str, Any]], field: str
) -> None:
    response = await client.post(f"{SYSTEMS}/import", json=rows, headers=admin.headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"][0]["row"] == 1
    assert response.json()["error"]["details"][0]["field"] == field


async def test_unknown_fields_and_oversized_csv_cells_are_4xx(
    client: httpx.AsyncClient, admin: Account
) -> None:
    typo = await client.post(SYSTEMS, json=_local(credential="c"), headers=admin.headers)
    assert typo.status_code == 422 and typo.json()["error"]["details"][0]["field"] == "credential"
    huge = "name,host\n" + "x" * 200_000 + ",localhost\n"
    response = await client.post(
        f"{SYSTEMS}/import",
        content=huge.encode(),
        headers={**admin.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 400 and response.json()["error"]["details"][0]["field"] == "body"
