"""/healthz and /readyz, including readiness while PostgreSQL or Redis is really stopped."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from app.core import migrations
from app.core.db import create_sessionmaker
from app.core.embedded import EmbeddedPostgres, EmbeddedRedis
from app.main import create_app
from app.repositories import workers as workers_repo
from tests.fixtures.app import make_settings


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readyz_without_a_worker_is_503_and_names_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert "worker" in error["message"]
    checks = error["details"]["checks"]
    assert checks["database"]["ok"] is True
    assert checks["redis"]["ok"] is True
    assert checks["worker"]["ok"] is False


# -- with servers of its own, which the tests stop and start ----------------------------------


class Servers:
    def __init__(self, root: Path) -> None:
        self.pg = EmbeddedPostgres(root / "pg", password=secrets.token_urlsafe(12))
        self.redis = EmbeddedRedis(root / "redis", password=secrets.token_urlsafe(12))


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    s = Servers(tmp_path)
    s.pg.start()
    s.redis.start()
    migrations.upgrade(s.pg.url())
    yield s
    s.redis.stop()
    s.pg.stop()


@pytest.fixture
async def own_client(servers: Servers) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        servers.pg.url(), servers.redis.url(), worker_heartbeat_ttl_seconds=3600
    )
    app = create_app(settings)
    # A heartbeat, as a worker writes it, so only the servers decide readiness here.
    engine = create_async_engine(servers.pg.url())
    async with create_sessionmaker(engine)() as session:
        await workers_repo.beat(
            session,
            worker_id="test-worker",
            hostname="h",
            pid=1,
            version="t",
            max_jobs=1,
            running_jobs=0,
        )
        await session.commit()
    await engine.dispose()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://orca.test") as c:
            yield c


async def _eventually_ready(client: httpx.AsyncClient, seconds: float = 20) -> httpx.Response:
    """Recovery needs no restart of the API; allow a loaded machine a few probes to see it."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        response = await client.get("/readyz")
        if response.status_code == 200 or asyncio.get_running_loop().time() > deadline:
            assert response.status_code == 200, response.text
            return response
        await asyncio.sleep(0.25)


async def test_readyz_follows_redis_going_away_and_coming_back(
    servers: Servers, own_client: httpx.AsyncClient
) -> None:
    assert (await own_client.get("/readyz")).status_code == 200
    servers.redis.stop()
    response = await own_client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    checks = response.json()["error"]["details"]["checks"]
    assert checks["redis"]["ok"] is False
    assert checks["database"]["ok"] is True
    assert "redis" in response.json()["error"]["message"]
    servers.redis.start()
    response = await _eventually_ready(own_client)
    assert response.json()["status"] == "ready"


async def test_readyz_follows_postgres_going_away_and_coming_back(
    servers: Servers, own_client: httpx.AsyncClient
) -> None:
    assert (await own_client.get("/readyz")).status_code == 200
    servers.pg.stop()
    response = await own_client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["error"]["details"]["checks"]
    assert checks["database"]["ok"] is False
    assert checks["worker"]["ok"] is False
    assert checks["redis"]["ok"] is True
    # No connection detail (URL, password) leaks through the error text.
    assert servers.pg.password not in response.text
    servers.pg.start()
    await _eventually_ready(own_client)
