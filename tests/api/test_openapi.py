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
