"""Keyset pages: every row exactly once, in order, even when many rows share a sort key."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import BadRequest
from app.models import User
from app.repositories.pagination import encode_cursor, keyset_page
from app.services.users import SORTS


@pytest.fixture
async def users(session: AsyncSession) -> list[User]:
    # One transaction: every created_at is the same now().
    rows = [User(username=f"u{index}", password_hash="x") for index in range(7)]
    session.add_all(rows)
    await session.flush()
    return rows


@pytest.mark.parametrize("sort", list(SORTS))
async def test_walking_pages_yields_every_row_once_in_order(
    session: AsyncSession, users: list[User], sort: str
) -> None:
    order = SORTS[sort]
    seen: list[str] = []
    cursor = None
    while True:
        page = await keyset_page(session, select(User), order, limit=2, cursor=cursor)
        assert page.total == 7
        seen += [user.username for user in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    everything = (
        await session.execute(
            select(User).order_by(*(c.desc() if desc else c.asc() for c, desc in order.columns))
        )
    ).scalars()
    assert seen == [user.username for user in everything]
    assert len(set(seen)) == 7


@pytest.mark.parametrize(
    "values",
    [
        ["u1", "not-a-uuid"],
        ["u1"],
        [2**70, "00000000-0000-0000-0000-000000000000"],
        ["a\x00", None],
    ],
)
async def test_edited_cursors_are_a_400(session: AsyncSession, values: list[object]) -> None:
    cursor = encode_cursor(SORTS["username"], values)
    with pytest.raises(BadRequest, match="cursor"):
        await keyset_page(session, select(User), SORTS["username"], limit=2, cursor=cursor)
