"""Keyset pagination, the one paging style of the whole API.

A page is `limit` rows in a stable order (the chosen sort, then the primary key), and an opaque
`cursor` naming the last row returned; the next page starts strictly after it. Unlike offsets,
pages stay fast deep into millions of rows, and rows inserted meanwhile neither repeat nor get
skipped.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.core.errors import BadRequest

T = TypeVar("T")


@dataclass(frozen=True)
class Order:
    """A sort order: columns (non-null, the last one unique) and their directions."""

    name: str
    columns: tuple[tuple[InstrumentedAttribute[Any], bool], ...]  # (column, descending)

    @classmethod
    def of(cls, name: str, *columns: InstrumentedAttribute[Any]) -> Order:
        """`Order.of("-created_at", User.created_at, User.id)`: a leading "-" means newest
        first, for every column."""
        descending = name.startswith("-")
        return cls(name, tuple((column, descending) for column in columns))


def name_sorts(model: Any) -> dict[str, Order]:
    """The sorts of a named resource: by name or by creation, either way round."""
    return {
        name: Order.of(name, getattr(model, name.lstrip("-")), model.id)
        for name in ("name", "-name", "created_at", "-created_at")
    }


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    total: int | None


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _decode(value: Any, column: InstrumentedAttribute[Any]) -> Any:
    kind = column.type.python_type
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is uuid.UUID:
        return uuid.UUID(value)
    if kind in {int, str} and (not isinstance(value, kind) or isinstance(value, bool)):
        raise TypeError
    # Values a cursor of ours never holds, but an edited one might: refuse them here rather
    # than let PostgreSQL fail on them.
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ValueError
    if isinstance(value, str) and "\x00" in value:
        raise ValueError
    return value


def encode_cursor(order: Order, row_values: Sequence[Any]) -> str:
    raw = json.dumps({"s": order.name, "v": [_encode(value) for value in row_values]})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(order: Order, cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if data["s"] != order.name:
            raise BadRequest(
                f"cursor: this cursor belongs to sort {data['s']!r}, not {order.name!r}",
                details=[{"field": "cursor", "message": "made for another sort order"}],
            )
        values = data["v"]
        if len(values) != len(order.columns):
            raise ValueError
        return [
            _decode(value, column) for value, (column, _) in zip(values, order.columns, strict=True)
        ]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise BadRequest(
            "cursor: not a cursor this API issued; use next_cursor from the previous page",
            details=[{"field": "cursor", "message": "malformed"}],
        ) from exc


def _after(order: Order, values: list[Any]) -> Any:
    """Rows strictly after `values` in `order` (expanded, since directions may differ)."""
    clauses = []
    for index, (column, descending) in enumerate(order.columns):
        equal = [c == v for (c, _), v in zip(order.columns[:index], values[:index], strict=True)]
        beyond = column < values[index] if descending else column > values[index]
        clauses.append(and_(*equal, beyond))
    return or_(false(), *clauses)


async def keyset_page(
    session: AsyncSession,
    stmt: Select[Any],
    order: Order,
    *,
    limit: int,
    cursor: str | None,
    count: bool = True,
) -> Page[Any]:
    """One page of `stmt` (which selects ORM entities, filters applied, no ORDER BY)."""
    total = None
    if count:
        total = int(
            (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
        )
    if cursor:
        stmt = stmt.where(_after(order, decode_cursor(order, cursor)))
    stmt = stmt.order_by(
        *(column.desc() if descending else column.asc() for column, descending in order.columns)
    ).limit(limit + 1)
    items = list((await session.execute(stmt)).scalars().all())
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        next_cursor = encode_cursor(order, [getattr(last, c.key) for c, _ in order.columns])
    return Page(items=items, next_cursor=next_cursor, total=total)
