from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Credential, System
from app.models.enums import CredentialKind
from app.repositories.filters import contains


def search(*, q: str | None = None, kind: CredentialKind | None = None) -> Select[Credential]:
    stmt = select(Credential)
    if q:
        stmt = stmt.where(contains(q, Credential.name, Credential.username, Credential.description))
    if kind is not None:
        stmt = stmt.where(Credential.kind == kind)
    return stmt


async def system_counts(
    session: AsyncSession, credential_ids: list[uuid.UUID]
) -> dict[uuid.UUID, int]:
    result = await session.execute(
        select(System.credential_id, func.count())
        .where(System.credential_id.in_(credential_ids))
        .group_by(System.credential_id)
    )
    return {row[0]: int(row[1]) for row in result.all() if row[0] is not None}


async def secret_batches(
    session: AsyncSession, batch_size: int, column: Any = Credential.secret
) -> AsyncIterator[list[tuple[uuid.UUID, bytes]]]:
    """Every (id, sealed value) of `column` (credential secrets unless told: also sealed job
    environments), in id order, a batch at a time; rows without one are skipped."""
    model = column.class_
    after: uuid.UUID | None = None
    while True:
        stmt = (
            select(model.id, column).where(column.is_not(None)).order_by(model.id).limit(batch_size)
        )
        if after is not None:
            stmt = stmt.where(model.id > after)
        rows = [(row[0], bytes(row[1])) for row in (await session.execute(stmt)).all()]
        if not rows:
            return
        yield rows
        after = rows[-1][0]


async def replace_secret(
    session: AsyncSession,
    row_id: uuid.UUID,
    old: bytes,
    new: bytes,
    column: Any = Credential.secret,
) -> bool:
    """Swap the stored token, unless someone changed it meanwhile (then leave theirs)."""
    model = column.class_
    result = await session.execute(
        update(model).where(model.id == row_id, column == old).values({column.key: new})
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
