from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

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
    session: AsyncSession, batch_size: int
) -> AsyncIterator[list[tuple[uuid.UUID, bytes]]]:
    """Every credential's (id, secret), in id order, a batch at a time."""
    after: uuid.UUID | None = None
    while True:
        stmt = select(Credential.id, Credential.secret).order_by(Credential.id).limit(batch_size)
        if after is not None:
            stmt = stmt.where(Credential.id > after)
        rows = [(row[0], bytes(row[1])) for row in (await session.execute(stmt)).all()]
        if not rows:
            return
        yield rows
        after = rows[-1][0]


async def replace_secret(
    session: AsyncSession, credential_id: uuid.UUID, old: bytes, new: bytes
) -> bool:
    """Swap the stored token, unless someone changed it meanwhile (then leave theirs)."""
    result = await session.execute(
        update(Credential)
        .where(Credential.id == credential_id, Credential.secret == old)
        .values(secret=new)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
