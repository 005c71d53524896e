"""The OpenAPI document describes what the API really does: our error body, the bearer scheme
on every protected operation, and one way to page."""

from __future__ import annotations

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
