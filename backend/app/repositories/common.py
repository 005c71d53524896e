"""Queries every domain needs, written once."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import delete as sa_delete
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

M = TypeVar("M")


async def get_by_id(
    session: AsyncSession, model: type[M], object_id: uuid.UUID, *, for_update: bool = False
) -> M | None:
    stmt = select(model).where(model.id == object_id)  # type: ignore[attr-defined]
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_many(session: AsyncSession, model: type[M], ids: list[uuid.UUID]) -> list[M]:
    if not ids:
        return []
    result = await session.execute(select(model).where(model.id.in_(ids)))  # type: ignore[attr-defined]
    return list(result.scalars().all())


async def name_taken(
    session: AsyncSession, model: type[Any], name: str, *, exclude: uuid.UUID | None = None
) -> bool:
    """Whether another row of `model` already has this name (compared without case)."""
    stmt = select(func.count()).select_from(model).where(func.lower(model.name) == name.lower())
    if exclude is not None:
        stmt = stmt.where(model.id != exclude)
    return int((await session.execute(stmt)).scalar_one()) > 0


async def add(session: AsyncSession, row: M) -> M:
    session.add(row)
    await session.flush()
    return row


async def delete(session: AsyncSession, row: object) -> None:
    await session.delete(row)
    await session.flush()


async def existing_ids(
    session: AsyncSession, model: type[Any], ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    result = await session.execute(select(model.id).where(model.id.in_(ids)))
    return set(result.scalars().all())


async def add_links(
    session: AsyncSession,
    link: type[Any],
    owner: tuple[str, uuid.UUID],
    member_field: str,
    member_ids: list[uuid.UUID],
) -> list[uuid.UUID]:
    """Insert rows of a link table (team ↔ user, group ↔ system); returns the members that
    were not linked before."""
    owner_field, owner_id = owner
    result = await session.execute(
        insert(link)
        .values([{owner_field: owner_id, member_field: member} for member in member_ids])
        .on_conflict_do_nothing()
        .returning(getattr(link, member_field))
    )
    return list(result.scalars().all())


async def remove_link(
    session: AsyncSession,
    link: type[Any],
    owner: tuple[str, uuid.UUID],
    member: tuple[str, uuid.UUID],
) -> bool:
    result = await session.execute(
        sa_delete(link).where(
            getattr(link, owner[0]) == owner[1], getattr(link, member[0]) == member[1]
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
