"""Attacks on a real `orca up`, each refused and each in the audit log: forged tokens, a spent
refresh token used again, password guessing spread over two API processes, and privilege
escalation (an operator making itself admin, a viewer running a job, an operator reaching
another team's systems by id, a WebSocket subscription to a job it may not see)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from jose import jwt
from websockets.sync.client import connect

from app.core.embedded import free_port
from tests.fixtures.orca_up import OrcaUp
from tests.fixtures.processes import process_alive, wait_for
from tests.security.conftest import VIEWER_PASSWORD

pytestmark = pytest.mark.slow

OPERATOR_PASSWORD = "operate-Carefully-2026"


@dataclass
class World:
    """Two teams, each with an operator granted `execute` on its own group of one system."""

    operator_a: str  # tokens
    operator_b: str
    viewer: str
    operator_a_id: str
    system_a: str
    system_b: str
    job_b: str


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def world(orca: OrcaUp) -> World:
    ids: dict[str, Any] = {}
    for side in ("a", "b"):
        team = orca.post("/teams", {"name": f"team-{side}"})
        group = orca.post("/groups", {"name": f"group-{side}"})
        system = orca.post(
            "/systems", {"name": f"box-{side}", "connector": "local", "host": "127.0.0.1"}
        )
        orca.post(f"/groups/{group['id']}/systems", {"system_ids": [system["id"]]})
        user = orca.post(
            "/users",
            {"username": f"operator-{side}", "password": OPERATOR_PASSWORD, "role": "operator"},
        )
        orca.post(f"/teams/{team['id']}/members", {"user_ids": [user["id"]]})
        orca.post("/grants", {"team_id": team["id"], "group_id": group["id"], "level": "execute"})
        ids[side] = (user["id"], system["id"])
    operator_b = orca.login("operator-b", OPERATOR_PASSWORD)
    job_b = httpx.post(
        f"{orca.url}/api/v1/jobs",
        json={"command": "echo secret-b", "targets": {"systems": [ids["b"][1]]}},
        headers=_headers(operator_b),
        timeout=30,
    )
    assert job_b.status_code == 201, job_b.text
    return World(
        operator_a=orca.login("operator-a", OPERATOR_PASSWORD),
        operator_b=operator_b,
        viewer=orca.login("viewer", VIEWER_PASSWORD),
        operator_a_id=ids["a"][0],
        system_a=ids["a"][1],
        system_b=ids["b"][1],
        job_b=job_b.json()["id"],
    )


def _audit(orca: OrcaUp, action: str, since_seq: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = orca.get("/audit", action=action, limit=500)["items"]
    return [row for row in rows if row["seq"] > since_seq]


def _head(orca: OrcaUp) -> int:
    items = orca.get("/audit", limit=1)["items"]
    return int(items[0]["seq"]) if items else 0


def test_forged_tokens_are_refused_and_audited(orca: OrcaUp, world: World) -> None:
    since = _head(orca)
    claims = jwt.get_unverified_claims(world.viewer)
    body = world.viewer.split(".")[1]
    forged = {
        "algorithm": "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + body + ".",
        "signature": jwt.encode({**claims, "role": "admin"}, "not-the-key" * 4, "HS256"),
        "expired": jwt.encode({**claims, "exp": int(time.time()) - 3600}, "k" * 48, "HS256"),
    }
    for token in forged.values():
        response = httpx.get(f"{orca.url}/api/v1/systems", headers=_headers(token), timeout=30)
        assert response.status_code == 401
    rows = _audit(orca, "auth.token_rejected", since)
    assert {row["details"]["reason"] for row in rows} >= {"algorithm", "signature"}
    assert all(row["outcome"] == "denied" and row["client_ip"] for row in rows)


def test_a_spent_refresh_token_used_again_ends_the_session_and_is_audited(
    orca: OrcaUp, world: World
) -> None:
    since = _head(orca)
    login = httpx.post(
        f"{orca.url}/api/v1/auth/login",
        json={"username": "operator-a", "password": OPERATOR_PASSWORD},
        timeout=30,
    ).json()
    first = login["refresh_token"]
    renewed = httpx.post(
        f"{orca.url}/api/v1/auth/refresh", json={"refresh_token": first}, timeout=30
    )
    assert renewed.status_code == 200
    stolen = httpx.post(
        f"{orca.url}/api/v1/auth/refresh", json={"refresh_token": first}, timeout=30
    )
    assert stolen.status_code == 401
    # The whole family is gone: the legitimate newer token too.
    again = httpx.post(
        f"{orca.url}/api/v1/auth/refresh",
        json={"refresh_token": renewed.json()["refresh_token"]},
        timeout=30,
    )
    assert again.status_code == 401
    assert _audit(orca, "auth.refresh_reuse", since)


@pytest.fixture
def second_api(orca: OrcaUp) -> Iterator[str]:
    """Another `orca api` process on the same database and Redis: a second replica."""
    import subprocess

    assert orca.stack is not None
    child = orca.stack.child("api")
    port = free_port()
    env = {**child.env, "ORCA_API_PORT": str(port)}
    proc = subprocess.Popen(
        child.argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200,
            60,
            "the second API",
        )
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)
        assert not process_alive(proc.pid)


def test_password_guessing_across_two_api_processes_is_capped_and_audited(
    orca: OrcaUp, world: World, second_api: str
) -> None:
    since = _head(orca)
    statuses = []
    for attempt in range(12):  # alternate replicas: the count is shared through Redis
        base = orca.url if attempt % 2 == 0 else second_api
        response = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"username": "operator-b", "password": f"guess-{attempt}"},
            timeout=30,
        )
        statuses.append(response.status_code)
    assert statuses[0] == 401 and statuses[-1] == 429, statuses
    assert statuses.count(401) <= 10, statuses
    # Locked: even the right password is refused until the lockout ends.
    right = httpx.post(
        f"{second_api}/api/v1/auth/login",
        json={"username": "operator-b", "password": OPERATOR_PASSWORD},
        timeout=30,
    )
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
    assert _audit(orca, "auth.login_failed", since)
    assert _audit(orca, "auth.login_throttled", since)


def test_an_operator_cannot_make_itself_admin(orca: OrcaUp, world: World) -> None:
    since = _head(orca)
    response = httpx.patch(
        f"{orca.url}/api/v1/users/{world.operator_a_id}",
        json={"role": "admin"},
        headers=_headers(world.operator_a),
        timeout=30,
    )
    assert response.status_code == 403
    assert orca.get(f"/users/{world.operator_a_id}")["role"] == "operator"
    (row,) = _audit(orca, "access.denied", since)
    assert row["actor_username"] == "operator-a" and row["details"]["method"] == "PATCH"


def test_a_viewer_cannot_run_a_job(orca: OrcaUp, world: World) -> None:
    since = _head(orca)
    response = httpx.post(
        f"{orca.url}/api/v1/jobs",
        json={"command": "id", "targets": {"systems": [world.system_a]}},
        headers=_headers(world.viewer),
        timeout=30,
    )
    assert response.status_code == 403
    (row,) = _audit(orca, "access.denied", since)
    assert row["actor_username"] == "viewer" and row["details"]["permission"] == "jobs:run"


def test_another_teams_systems_and_jobs_are_out_of_reach_by_id(orca: OrcaUp, world: World) -> None:
    since = _head(orca)
    a = _headers(world.operator_a)
    base = f"{orca.url}/api/v1"
    # Reading them: as if they did not exist, but the attempt is on record.
    assert httpx.get(f"{base}/systems/{world.system_b}", headers=a, timeout=30).status_code == 404
    assert httpx.get(f"{base}/jobs/{world.job_b}", headers=a, timeout=30).status_code == 404
    reached = {
        (row["target_type"], row["target_id"])
        for row in _audit(orca, "access.denied", since)
        if row["actor_username"] == "operator-a"
    }
    assert {("system", world.system_b), ("job", world.job_b)} <= reached
    # Running on one: the whole job is refused, and nothing is created.
    refused = httpx.post(
        f"{base}/jobs",
        json={"command": "id", "targets": {"systems": [world.system_a, world.system_b]}},
        headers=a,
        timeout=30,
    )
    assert refused.status_code == 403, refused.text
    mine = httpx.get(f"{base}/jobs", headers=a, timeout=30).json()["items"]
    assert mine == []
    denied = _audit(orca, "access.denied", since) + _audit(orca, "job.denied", since)
    assert any(row["actor_username"] == "operator-a" for row in denied), denied
    # A guessed id that does not exist gets the same answer (so existence does not leak), and
    # writes nothing.
    before = _head(orca)
    ghost_id = str(uuid.uuid4())
    ghost = httpx.get(f"{base}/systems/{ghost_id}", headers=a, timeout=30)
    hidden = httpx.get(f"{base}/systems/{world.system_b}", headers=a, timeout=30)
    assert ghost.status_code == hidden.status_code == 404
    assert ghost.json()["error"]["message"].replace(ghost_id, "X") == hidden.json()["error"][
        "message"
    ].replace(world.system_b, "X")
    assert [row["target_id"] for row in _audit(orca, "access.denied", before)] == [world.system_b]


def test_a_websocket_subscription_to_an_unseen_job_is_refused_and_audited(
    orca: OrcaUp, world: World
) -> None:
    since = _head(orca)
    with connect(f"ws://127.0.0.1:{orca.port}/api/v1/ws", open_timeout=30) as ws:
        ws.send(json.dumps({"op": "auth", "token": world.operator_a}))
        ws.send(json.dumps({"op": "subscribe", "job_id": world.job_b, "output": True}))
        replies = []
        while True:
            message = json.loads(ws.recv(timeout=10))
            replies.append(message)
            if message["type"] in {"error", "subscribed"}:
                break
    assert replies[-1]["type"] == "error", replies
    assert "secret-b" not in json.dumps(replies)
    (row,) = _audit(orca, "access.denied", since)
    assert row["actor_username"] == "operator-a"
    assert (row["target_type"], row["target_id"]) == ("job", world.job_b)
