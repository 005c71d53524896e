"""`GET /metrics`: who may read it, and what a scrape shows, read back with Prometheus' own parser
from a real API, a real worker (in the test's event loop) running real jobs on the local and SSH
connectors, real PostgreSQL and Redis, and a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import connect

from app.core.config import Settings
from app.core.embedded import free_port
from app.core.redis import QUEUE_NAME
from app.main import create_app
from app.models import AuditEvent
from app.models.enums import Role
from tests.fixtures.app import make_settings
from tests.fixtures.auth import MakeAccount
from tests.fixtures.engine import JOBS, Engine, Served, wait_for
from tests.fixtures.services import TestServices
from tests.fixtures.sshd import SshAccount, SshServer

SCRAPE_TOKEN = secrets.token_urlsafe(32)
SCRAPER = {"Authorization": f"Bearer {SCRAPE_TOKEN}"}


@pytest.fixture
def settings(test_services: TestServices) -> Settings:
    return make_settings(
        test_services.database_url, test_services.redis_url, metrics_token=SCRAPE_TOKEN
    )


def parse(text: str) -> list[Sample]:
    families = list(text_string_to_metric_families(text))
    names = [family.name for family in families]
    assert len(names) == len(set(names)), "a family is written twice"
    return [sample for family in families for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float | None:
    """The one sample called `name` whose labels include `labels`; None when there is none."""
    found = [
        sample
        for sample in samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) <= 1, f"{name} {labels} matches {len(found)} samples: {found}"
    return found[0].value if found else None


async def scrape(client: httpx.AsyncClient, headers: dict[str, str] = SCRAPER) -> list[Sample]:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


# -- who may read it ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(Role.admin, True), (Role.auditor, True), (Role.operator, False), (Role.viewer, False)],
)
async def test_roles(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_account: MakeAccount,
    role: Role,
    allowed: bool,
) -> None:
    account = await make_account(role)
    response = await client.get("/metrics", headers=account.headers)
    if allowed:
        assert response.status_code == 200, response.text
        assert value(parse(response.text), "orca_dependency_up", dependency="postgresql") == 1
        return
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "forbidden",
        "message": f"Your role ({role.value}) does not have the metrics:read permission.",
        "details": {"permission": "metrics:read"},
    }
    denied = (
        await session.execute(
            select(AuditEvent).where(
                AuditEvent.action == "access.denied", AuditEvent.actor_id == account.user.id
            )
        )
    ).scalar_one()
    assert denied.details["path"] == "/metrics"


async def test_the_scrape_token_and_nothing_else_gets_in_without_a_login(
    client: httpx.AsyncClient,
) -> None:
    samples = await scrape(client, SCRAPER)
    assert value(samples, "orca_dependency_up", dependency="redis") == 1
    for headers in (
        {},
        {"Authorization": f"Bearer {SCRAPE_TOKEN[:-1]}x"},
        {"Authorization": f"Bearer {SCRAPE_TOKEN}{SCRAPE_TOKEN}"},
        {"Authorization": f"Basic {SCRAPE_TOKEN}"},
    ):
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_without_a_configured_token_no_bearer_string_is_one(
    test_services: TestServices, fresh_database_url: str, redis: object
) -> None:
    # A database of its own: this app commits (the refusal's audit row), and the shared one
    # must hold only what tests roll back.
    application = create_app(make_settings(fresh_database_url, test_services.redis_url))
    async with application.router.lifespan_context(application), _client(application) as client:
        response = await client.get("/metrics", headers=SCRAPER)
    assert response.status_code == 401


async def test_metrics_stay_out_of_the_api_document(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "/metrics" not in document["paths"]


# -- what the API process measures -------------------------------------------------------------


async def test_request_latency_is_labelled_by_route_template(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    admin = await make_account(Role.admin)
    job_ids = [str(uuid.uuid4()) for _ in range(3)]
    for job_id in job_ids:
        assert (await client.get(f"{JOBS}/{job_id}", headers=admin.headers)).status_code == 404
    assert (await client.get(JOBS, headers=admin.headers)).status_code == 200
    assert (await client.get(f"/api/v1/no-such/{job_ids[0]}")).status_code == 404

    samples = await scrape(client)
    histogram = "orca_http_request_duration_seconds"
    one_job = {"method": "GET", "route": "/api/v1/jobs/{job_id}", "status": "4xx"}
    assert value(samples, f"{histogram}_count", **one_job) == 3
    assert value(samples, f"{histogram}_bucket", le="+Inf", **one_job) == 3
    assert value(samples, f"{histogram}_count", method="GET", route=JOBS, status="2xx") == 1
    assert value(samples, f"{histogram}_count", method="GET", route="unmatched") == 1
    routes = {sample.labels["route"] for sample in samples if sample.name.startswith(histogram)}
    assert not any(job_id in route for route in routes for job_id in job_ids), routes
    assert all(route.startswith("/") or route == "unmatched" for route in routes)
    # The API process's own resources come along.
    assert (value(samples, "process_resident_memory_bytes") or 0) > 0


async def test_websocket_clients_rise_and_fall(orca: Engine, served: Served) -> None:
    async def clients() -> float | None:
        return value(await scrape(orca.client, orca.admin.headers), "orca_websocket_clients")

    assert await clients() == 0
    tickets = []
    for _ in range(2):
        response = await orca.client.post("/api/v1/ws/ticket", headers=orca.admin.headers)
        tickets.append(response.json()["ticket"])
    async with connect(f"{served.ws_url}?ticket={tickets[0]}") as first:
        assert json.loads(await first.recv())["type"] == "hello"
        assert await clients() == 1
        async with connect(f"{served.ws_url}?ticket={tickets[1]}") as second:
            assert json.loads(await second.recv())["type"] == "hello"
            assert await clients() == 2
        await wait_for(lambda: _equals(clients, 1), 10, "the second client to be let go")
    await wait_for(lambda: _equals(clients, 0), 10, "both clients to be let go")


async def _equals(read: Any, expected: float) -> bool:
    return bool(await read() == expected)


# -- the fleet: PostgreSQL, Redis and the workers' snapshots -----------------------------------


async def test_a_workers_executions_show_in_one_scrape(orca: Engine) -> None:
    (beat,) = await orca.heartbeats()
    worker = beat.worker_id
    await orca.local_system("here", max_concurrency=1)
    ok = await orca.submit({"command": "echo fine", "targets": {"systems": ["here"]}})
    bad = await orca.submit({"command": "exit 3", "targets": {"systems": ["here"]}})
    await orca.finished(ok["id"])
    await orca.finished(bad["id"])

    finished = "orca_executions_finished_total"
    mine = {"connector": "local", "worker": worker}

    async def both_counted() -> list[Sample] | None:
        # Ends are counted once committed, a moment after the job reads as finished.
        samples = await scrape(orca.client, orca.admin.headers)
        ended = [value(samples, finished, status=s, **mine) for s in ("succeeded", "failed")]
        return samples if None not in ended else None

    samples = await wait_for(both_counted, 10, "the worker's snapshot with both executions")
    assert value(samples, "orca_execution_duration_seconds_count", **mine) == 2
    assert value(samples, finished, status="succeeded", **mine) == 1
    assert value(samples, finished, status="failed", **mine) == 1
    assert value(samples, finished, status="error", **mine) is None
    seconds = value(samples, "orca_execution_duration_seconds_sum", **mine)
    assert seconds is not None and 0 < seconds < 30
    assert value(samples, "orca_worker_execution_slots", worker=worker) == 32
    assert value(samples, "orca_worker_executions_running", worker=worker) == 0
    assert (value(samples, "orca_worker_process_resident_memory_bytes", worker=worker) or 0) > 0
    assert value(samples, "orca_workers_live") == 1
    assert value(samples, "orca_dependency_up", dependency="postgresql") == 1
    assert value(samples, "orca_dependency_up", dependency="redis") == 1
    for status in ("pending", "queued", "running"):
        assert value(samples, "orca_executions_live", status=status) == 0
    assert value(samples, "orca_jobs_live", status="running") == 0

    # Two jobs on a system that takes one at a time: one runs, the other waits.
    held = await orca.submit({"command": "sleep 30", "targets": {"systems": ["here"]}})
    waiting = await orca.submit({"command": "true", "targets": {"systems": ["here"]}})
    await orca.execution_where(held["id"], lambda row: row["status"] == "running")

    async def one_running() -> list[Sample] | None:
        samples = await scrape(orca.client, orca.admin.headers)
        running = value(samples, "orca_worker_executions_running", worker=worker)
        return samples if running == 1 else None

    samples = await wait_for(one_running, 10, "a snapshot with the running execution")
    assert value(samples, "orca_executions_live", status="running") == 1
    assert value(samples, "orca_executions_live", status="pending") == 1
    assert value(samples, "orca_executions_live", status="queued") == 0
    assert value(samples, "orca_jobs_live", status="running") == 1
    assert value(samples, "orca_jobs_live", status="pending") == 1
    for job in (waiting, held):  # the waiting one first, or it starts when the other ends
        await _cancel(orca, job["id"])
        await orca.finished(job["id"])

    # A worker that stops takes its series with it.
    await orca.stop_workers()
    samples = await scrape(orca.client, orca.admin.headers)
    assert not [sample for sample in samples if sample.labels.get("worker") == worker]
    assert value(samples, "orca_workers_live") == 0


async def _cancel(orca: Engine, job_id: str) -> None:
    """Cancel, trying again when the API asks to (a concurrent change to the same rows)."""
    for _ in range(20):
        response = await orca.client.post(f"{JOBS}/{job_id}/cancel", headers=orca.admin.headers)
        if response.status_code != 409 or "retry" not in response.json()["error"]["message"]:
            assert response.status_code == 200, response.text
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} could not be cancelled")


async def test_queue_depth_counts_tasks_no_worker_took(idle_orca: Engine) -> None:
    assert value(await scrape(idle_orca.client, idle_orca.admin.headers), "orca_queue_depth") == 0
    arq: ArqRedis = idle_orca.live.app.state.arq
    for _ in range(3):
        assert await arq.enqueue_job("ping", _queue_name=QUEUE_NAME) is not None
    samples = await scrape(idle_orca.client, idle_orca.admin.headers)
    assert value(samples, "orca_queue_depth") == 3


async def test_ssh_pool_and_circuit_breaker_per_system(
    orca: Engine, sshd: SshServer, ssh_account: SshAccount
) -> None:
    (beat,) = await orca.heartbeats()
    worker = beat.worker_id
    reachable = await orca.ssh_system(sshd, ssh_account, name="pooled-host")
    job = await orca.submit({"command": "echo hi", "targets": {"systems": ["pooled-host"]}})
    assert (await orca.finished(job["id"]))["status"] == "succeeded"
    # Nothing listens there: five refused connections in a row open its circuit.
    gone = await orca.ssh_system(None, ssh_account, name="gone-host", port=free_port())
    job = await orca.submit(
        {
            "command": "echo hi",
            "targets": {"systems": ["gone-host"]},
            "retries": {"attempts": 6, "backoff_seconds": 0},
        }
    )
    done = await orca.finished(job["id"], 60)
    (execution,) = await orca.executions(done["id"])
    assert execution["error"]["code"] == "circuit_open"

    async def breaker_seen() -> list[Sample] | None:
        samples = await scrape(orca.client, orca.admin.headers)
        ssh = {"connector": "ssh", "worker": worker}
        opened = value(samples, "orca_connector_circuit_breakers_open", **ssh)
        ended = value(samples, "orca_executions_finished_total", status="error", **ssh)
        return samples if opened == 1 and ended is not None else None

    samples = await wait_for(breaker_seen, 10, "a snapshot with the open circuit")
    ssh = {"connector": "ssh", "worker": worker}
    assert value(samples, "orca_connector_circuit_open", system_id=gone["id"], **ssh) == 1
    assert value(samples, "orca_connector_circuit_open", system_id=reachable["id"], **ssh) is None
    assert value(samples, "orca_connector_pool_connections", system_id=reachable["id"], **ssh) == 1
    assert value(samples, "orca_connector_pool_connections", system_id=gone["id"], **ssh) is None
    assert value(samples, "orca_system_info", system_id=reachable["id"]) == 1
    (info,) = [
        s for s in samples if s.name == "orca_system_info" and s.labels["system"] == "gone-host"
    ]
    assert info.labels["system_id"] == gone["id"]
    assert value(samples, "orca_executions_finished_total", status="error", **ssh) == 1
    assert value(samples, "orca_execution_duration_seconds_count", **ssh) == 7

    # No secret rides along: not the host's password, nor any of the process's own.
    text = (await orca.client.get("/metrics", headers=orca.admin.headers)).text
    settings = orca.settings
    assert settings.database_url and settings.redis_url and settings.jwt_secret
    for secret in (
        ssh_account.password,
        settings.jwt_secret.get_secret_value(),
        settings.database_url.get_secret_value(),
        settings.redis_url.get_secret_value(),
        *(key.get_secret_value() for key in settings.encryption_keys),
        orca.admin.token,
    ):
        assert not secret or secret not in text


# -- a scrape answers with a store away --------------------------------------------------------


def _client(application: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://orca.test")


@pytest.fixture
async def without(
    test_services: TestServices, fresh_database_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with one store pointed at a port where nothing listens (and, when PostgreSQL is
    there, a database of its own: this app's requests commit)."""
    nowhere = free_port()
    database_url, redis_url = fresh_database_url, test_services.redis_url
    if request.param == "postgresql":
        database_url = f"postgresql+asyncpg://orca:orca@127.0.0.1:{nowhere}/orca"
    else:
        redis_url = f"redis://127.0.0.1:{nowhere}/0"
    application = create_app(make_settings(database_url, redis_url, metrics_token=SCRAPE_TOKEN))
    async with application.router.lifespan_context(application), _client(application) as client:
        yield client


@pytest.mark.parametrize("without", ["postgresql", "redis"], indirect=True)
async def test_a_store_away_costs_its_series_not_the_scrape(
    without: httpx.AsyncClient, request: pytest.FixtureRequest
) -> None:
    away = request.node.callspec.params["without"]
    there = {"postgresql": "redis", "redis": "postgresql"}[away]
    samples = await scrape(without)
    assert value(samples, "orca_dependency_up", dependency=away) == 0
    assert value(samples, "orca_dependency_up", dependency=there) == 1
    from_postgresql = value(samples, "orca_workers_live")
    from_redis = value(samples, "orca_queue_depth")
    if away == "postgresql":
        assert from_postgresql is None and from_redis is not None
    else:
        assert from_redis is None and from_postgresql is not None
    assert value(samples, "orca_websocket_clients") == 0
