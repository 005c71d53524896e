"""Request values of the wrong JSON type are refused, never coerced: `0` is not `false`, `"5"`
is not `5`, and a bare number is not a date (pydantic would take each)."""

from __future__ import annotations

import types
import typing
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel

from app.main import create_app
from tests.fixtures.app import make_settings
from tests.fixtures.auth import Account


def _models(annotation: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
        for field in annotation.model_fields.values():
            found.extend(_models(field.annotation))
    for argument in typing.get_args(annotation):
        found.extend(_models(argument))
    return found


def _scalar(annotation: Any) -> type | None:
    """int or bool when the field holds one (possibly optional), else None."""
    if annotation in (int, bool):
        return typing.cast(type, annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = {_scalar(argument) for argument in typing.get_args(annotation)} - {None}
        return kinds.pop() if len(kinds) == 1 else None
    return None


def _strict(field: Any) -> bool:
    annotations = [field.annotation, *typing.get_args(field.annotation)]
    metadata = [*field.metadata]
    for annotation in annotations:
        metadata.extend(getattr(annotation, "__metadata__", ()))
        for argument in typing.get_args(annotation):
            metadata.extend(getattr(argument, "__metadata__", ()))
    return any(getattr(item, "strict", None) for item in metadata) or "Strict" in repr(
        field.annotation
    )


@pytest.fixture(scope="module")
def application() -> FastAPI:
    return create_app(make_settings("postgresql+asyncpg://u:p@127.0.0.1:1/none", "redis://x"))


def test_every_number_and_flag_in_a_request_body_is_strict(application: FastAPI) -> None:
    loose = []
    for context in iter_route_contexts(application.routes):
        dependant = getattr(context, "dependant", None)
        for param in getattr(dependant, "body_params", []) or []:
            for model in _models(param.field_info.annotation):
                for name, field in model.model_fields.items():
                    if _scalar(field.annotation) and not _strict(field):
                        loose.append(f"{model.__name__}.{name}")
    assert not loose, f"coerced from other JSON types: {sorted(set(loose))}"


async def test_a_number_is_not_a_flag(client: httpx.AsyncClient, admin: Account) -> None:
    me = (await client.get("/api/v1/auth/me", headers=admin.headers)).json()
    response = await client.patch(
        f"/api/v1/users/{me['id']}", json={"is_active": 0}, headers=admin.headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "is_active"


async def test_text_is_not_a_number(client: httpx.AsyncClient, admin: Account) -> None:
    response = await client.post(
        "/api/v1/jobs",
        json={"command": "true", "targets": {"systems": ["x"]}, "timeout_seconds": "60"},
        headers=admin.headers,
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "timeout_seconds"


@pytest.mark.parametrize("path", ["/api/v1/jobs", "/api/v1/audit", "/api/v1/audit/export"])
async def test_a_bare_number_is_not_a_date(
    client: httpx.AsyncClient, admin: Account, path: str
) -> None:
    response = await client.get(path, params={"until": "0.5"}, headers=admin.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"][0]["field"] == "until" and "ISO 8601" in error["message"]
