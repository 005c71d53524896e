"""One error body for every 4xx/5xx, validation errors included; no stack trace reaches a client."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import create_async_engine

from app.api.deps import SessionDep
from app.core.errors import Conflict, NotFound
from app.core.logging import JsonFormatter
from app.main import create_app
from app.models import User
from tests.fixtures.app import make_settings
from tests.fixtures.services import TestServices


class Widget(BaseModel):
    name: str = Field(min_length=1, max_length=10)
    size: int = Field(ge=1)


def _probe_router() -> APIRouter:
    """Routes that exercise each kind of failure through the real error handlers."""
    router = APIRouter(prefix="/_probe")

    @router.post("/widgets")
    async def create_widget(widget: Widget) -> Widget:
        return widget

    @router.get("/missing")
    async def missing() -> None:
        raise NotFound("widget 42 does not exist")

    @router.get("/conflict")
    async def conflict() -> None:
        raise Conflict("name taken", details={"field": "name"})

    @router.post("/users-twice")
    async def users_twice(session: SessionDep) -> dict[str, bool]:
        # Two users whose names differ only by case: only the commit (the unique index on
        # lower(username)) can refuse them.
        session.add(User(username="Twin", password_hash="x"))
        session.add(User(username="twin", password_hash="x"))
        return {"ok": True}

    @router.post("/user-without-hash")
    async def user_without_hash(session: SessionDep) -> dict[str, bool]:
        session.add(User(username="nohash", password_hash=None))
        return {"ok": True}

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError("internal detail: password=hunter2 at /secret/path")

    return router


@pytest.fixture
async def probe_client(test_services: TestServices) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(make_settings(test_services.database_url, test_services.redis_url))
    app.include_router(_probe_router())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://orca.test") as c:
            yield c


def _assert_error_shape(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert response.headers.get("x-request-id")
    return dict(body["error"])


async def test_unknown_route_is_404_in_the_error_shape(probe_client: httpx.AsyncClient) -> None:
    _assert_error_shape(await probe_client.get("/api/v1/no/such/thing"), 404, "not_found")


async def test_wrong_method_is_405(probe_client: httpx.AsyncClient) -> None:
    _assert_error_shape(await probe_client.delete("/healthz"), 405, "method_not_allowed")


async def test_validation_errors_name_each_field(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post("/_probe/widgets", json={"name": "", "size": 0})
    error = _assert_error_shape(response, 422, "validation_error")
    fields = {d["field"]: d for d in error["details"]}  # type: ignore[attr-defined]
    assert set(fields) == {"name", "size"}
    assert fields["size"]["in"] == "body"
    assert "name" in str(error["message"])


async def test_malformed_json_is_a_clear_4xx(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        "/_probe/widgets", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    error = _assert_error_shape(response, 422, "validation_error")
    assert "JSON" in str(error["message"])


async def test_service_errors_keep_their_status_and_details(
    probe_client: httpx.AsyncClient,
) -> None:
    error = _assert_error_shape(await probe_client.get("/_probe/missing"), 404, "not_found")
    assert error["message"] == "widget 42 does not exist"
    error = _assert_error_shape(await probe_client.get("/_probe/conflict"), 409, "conflict")
    assert error["details"] == {"field": "name"}


async def test_an_unhandled_error_is_500_without_trace_or_detail(
    probe_client: httpx.AsyncClient,
) -> None:
    response = await probe_client.get("/_probe/crash")
    error = _assert_error_shape(response, 500, "internal_error")
    assert error["details"] == {"request_id": response.headers["x-request-id"]}
    for leaked in ("hunter2", "Traceback", "RuntimeError", "/secret/path"):
        assert leaked not in response.text


async def test_database_down_mid_request_is_503(test_services: TestServices) -> None:
    """A route whose database is unreachable answers 503 with the error body, not 500."""
    settings = make_settings(
        "postgresql+asyncpg://orca:pw@127.0.0.1:9/orca",
        test_services.redis_url,
        db_connect_timeout_seconds=1.0,
    )
    app = create_app(settings)
    router = APIRouter()

    @router.get("/_probe/db")
    async def touch_db() -> None:
        engine = create_async_engine("postgresql+asyncpg://orca:pw@127.0.0.1:9/orca")
        try:
            async with engine.connect():
                pass
        finally:
            await engine.dispose()

    app.include_router(router)
    async with app.router.lifespan_context(app):
        # Nothing escapes the app either: an error re-raised past the answer makes the server
        # close the client's connection (seen as resets while PostgreSQL was stopped).
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://orca.test") as c:
            response = await c.get("/_probe/db")
    _assert_error_shape(response, 503, "unavailable")
    assert response.headers["retry-after"] == "5"
    assert "Traceback" not in response.text


async def test_a_failed_commit_is_not_reported_as_success(probe_client: httpx.AsyncClient) -> None:
    """The session commits before the response is sent, so a refused commit is an error: a
    uniqueness race is a 409 the client can act on, any other broken constraint a 500."""
    response = await probe_client.post("/_probe/users-twice")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert "retry" in response.json()["error"]["message"]
    response = await probe_client.post("/_probe/user-without-hash")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"


async def test_the_500_log_line_names_the_request(probe_client: httpx.AsyncClient) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("api"))
    logger = logging.getLogger("orca.errors")
    logger.addHandler(handler)
    try:
        response = await probe_client.get("/_probe/crash")
    finally:
        logger.removeHandler(handler)
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert line["request_id"] == response.headers["x-request-id"]
    assert "RuntimeError" in line["exception"]  # the detail stays in the server log
