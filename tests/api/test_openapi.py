"""The OpenAPI document describes what the API really does: our error body, the bearer scheme
on every protected operation, and one way to page."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx


async def _spec(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


async def test_errors_are_described_in_the_shape_we_send(client: httpx.AsyncClient) -> None:
    spec = await _spec(client)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            for status in ("401", "403", "422"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)


async def test_protected_operations_declare_the_bearer_scheme(client: httpx.AsyncClient) -> None:
    spec = await _spec(client)
    public = {("post", "/api/v1/auth/login"), ("post", "/api/v1/auth/refresh")}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            if path.startswith("/api/v1/") and (method, path) not in public:
                assert operation.get("security") == [{"OAuth2PasswordBearer": []}], (method, path)


async def test_every_list_pages_the_same_way(client: httpx.AsyncClient) -> None:
    spec = await _spec(client)
    lists = [
        (path, operations["get"])
        for path, operations in spec["paths"].items()
        if "get" in operations
        and operations["get"]["responses"]["200"]["content"]
        .get("application/json", {})
        .get("schema", {})
        .get("$ref", "")
        .startswith("#/components/schemas/Page_")
    ]
    assert len(lists) >= 7
    for path, operation in lists:
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert {"limit", "cursor", "sort"} <= names, path


async def test_operation_ids_are_the_handlers_names(client: httpx.AsyncClient) -> None:
    """The web console's client is generated from these ids: short, snake_case, unique."""
    spec = await _spec(client)
    ids = [
        operation["operationId"]
        for operations in spec["paths"].values()
        for operation in operations.values()
    ]
    assert len(ids) == len(set(ids))
    assert "list_jobs" in ids and "verify_audit_chain" in ids
    for operation_id in ids:
        assert operation_id.replace("_", "").isalnum() and operation_id.islower(), operation_id
        assert "api_v1" not in operation_id, operation_id


async def test_a_method_a_path_lacks_is_405_naming_every_method_it_has(
    client: httpx.AsyncClient,
) -> None:
    spec = await _spec(client)
    for template, operations in spec["paths"].items():
        path = re.sub(r"\{\w+\}", str(uuid.uuid4()), template)
        documented = {method.upper() for method in operations}
        response = await client.request("TRACE", path)
        assert response.status_code == 405, (template, response.text)
        assert set(response.headers["allow"].split(", ")) == documented, template
        assert response.json()["error"]["code"] == "method_not_allowed"
        assert response.headers["x-request-id"]


async def test_a_literal_path_is_not_read_as_an_id(client: httpx.AsyncClient) -> None:
    # /systems/import exists for POST only; /systems/{system_id} must not take it.
    response = await client.patch("/api/v1/systems/import", json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    # A malformed id still gets the message that names it.
    bad = await client.get("/api/v1/systems/not-an-id", headers={"Authorization": "Bearer x"})
    assert bad.status_code in {401, 422}
