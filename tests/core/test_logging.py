"""Every log line is one JSON object and carries the id of the request being served."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from app.core.logging import JsonFormatter


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("api"))
    logger = logging.getLogger("orca.access")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(previous)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_access_line_is_json_with_the_request_id(
    client: httpx.AsyncClient, captured: io.StringIO
) -> None:
    response = await client.get("/healthz")
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32
    (line,) = _lines(captured)
    assert line["request_id"] == request_id
    assert line["path"] == "/healthz" and line["status"] == 200 and line["method"] == "GET"
    assert line["level"] == "info" and line["process"] == "api"
    assert isinstance(line["duration_ms"], float)


async def test_a_well_formed_client_request_id_is_kept(
    client: httpx.AsyncClient, captured: io.StringIO
) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "trace-abc.123"})
    assert response.headers["x-request-id"] == "trace-abc.123"
    assert _lines(captured)[0]["request_id"] == "trace-abc.123"


async def test_a_malformed_client_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith junk" * 10})
    assert response.headers["x-request-id"] != "bad id\twith junk" * 10
    assert len(response.headers["x-request-id"]) == 32


def test_exceptions_are_logged_inside_the_json_object() -> None:
    formatter = JsonFormatter("worker")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            "failed %s",
            ("job",),
            exc_info=__import__("sys").exc_info(),
        )
    entry = json.loads(formatter.format(record))
    assert entry["message"] == "failed job"
    assert "ValueError: boom" in entry["exception"]
