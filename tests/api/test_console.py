"""The web console's build is served at `/` by the API process, with client-side routes
answered by index.html, hashed assets cached, and the API's own paths left alone."""

from __future__ import annotations

import httpx

from app.core.config import Settings
from app.core.console import CONTENT_SECURITY_POLICY
from app.main import create_app
from tests.fixtures.app import make_settings
from tests.fixtures.services import TestServices


async def test_the_console_and_its_client_side_routes_are_served(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/", "/jobs/4b7a53f4-7a0b-4d5e-9c1e-0a6c9f8f1a2b", "/login?next=%2Faudit"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert "<title>Orca (test build)</title>" in response.text
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
    asset = await client.get("/assets/app-3f2a1c.js")
    assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert (await client.head("/")).status_code == 200


async def test_api_paths_are_never_answered_with_the_console(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/api/v1/nothing-here")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    wrong_method = await client.put("/api/v1/jobs")
    assert wrong_method.status_code == 405
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "Orca"
    assert (await client.get("/healthz")).status_code == 200
    # Nothing outside the build's directory is reachable.
    for escape in ("/../pyproject.toml", "/%2e%2e/%2e%2e/pyproject.toml", "/assets/../../app.py"):
        response = await client.get(escape)
        assert "<title>Orca (test build)</title>" in response.text or response.status_code == 404
        assert "[project]" not in response.text


async def test_without_a_build_there_is_no_console(
    test_services: TestServices, tmp_path: object
) -> None:
    settings: Settings = make_settings(
        test_services.database_url, test_services.redis_url, console_dir=str(tmp_path)
    )
    application = create_app(settings)
    assert application.state.console is False
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://orca.test") as c:
        response = await c.get("/")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
