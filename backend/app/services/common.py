"""Rules every domain applies the same way."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, NotFound
from app.repositories import common as common_repo

M = TypeVar("M")


async def get_or_404(
    session: AsyncSession,
    model: type[M],
    object_id: uuid.UUID,
    label: str,
    *,
    for_update: bool = False,
) -> M:
    row = await common_repo.get_by_id(session, model, object_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no {label} with id {object_id}")
    return row


async def require_unique_name(
    session: AsyncSession, model: type[Any], name: str, label: str, exclude: uuid.UUID | None = None
) -> None:
    if await common_repo.name_taken(session, model, name, exclude=exclude):
        raise Conflict(
            f"name: a {label} named {name!r} already exists",
            details=[{"field": "name", "message": "already taken"}],
        )


def changes_of(row: object, changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Apply `changes` to `row`; return {field: {from, to}} for the fields that did change,
    ready for an audit row."""
    changed = {}
    for field, value in changes.items():
        before = getattr(row, field)
        if before != value:
            changed[field] = {"from": _plain(before), "to": _plain(value)}
            setattr(row, field, value)
    return changed


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID | datetime):
        return str(value)
    return value


async def require_existing(
    session: AsyncSession, model: type[Any], ids: list[uuid.UUID], field: str, label: str
) -> list[uuid.UUID]:
    """`ids` without repeats, or a 404 naming each id that does not exist."""
    wanted = list(dict.fromkeys(ids))
    found = await common_repo.existing_ids(session, model, wanted)
    missing = [str(each) for each in wanted if each not in found]
    if missing:
        raise NotFound(
            f"{field}: no {label} with id {', '.join(missing)}",
            details=[{"field": field, "message": f"unknown: {', '.join(missing)}"}],
        )
    return wanted
