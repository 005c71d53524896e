"""Shapes shared by every resource: the page of a list, the query of a list."""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from app.repositories.pagination import Page as PageData

T = TypeVar("T")

# Text PostgreSQL can store: no NUL characters (its text types refuse them).
NO_NUL = r"^[^\x00]*$"

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NO_NUL)
]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500, pattern=NO_NUL)
]


class Page(BaseModel, Generic[T]):
    """One page of a list. Pass `next_cursor` back as `cursor` for the next page; it is null
    on the last page. `total` counts every match of the filters (null where counting would be
    slow, as in the audit log)."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Opaque; send as `cursor` to get the next page. Null on the last page."
    )
    total: int | None = Field(description="Number of matches across all pages, when cheap.")


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


M = TypeVar("M", bound=BaseModel)


def page_of(schema: type[M], page: PageData[Any], items: list[M] | None = None) -> Page[M]:
    """The response for a page of rows: each row validated into `schema` unless `items` (the
    rows already converted, with extra fields) is given."""
    return Page[schema](  # type: ignore[valid-type]
        items=items if items is not None else [schema.model_validate(row) for row in page.items],
        next_cursor=page.next_cursor,
        total=page.total,
    )


Limit = Annotated[int, Query(ge=1, le=500, description="Items per page, 1 to 500.", examples=[50])]
Cursor = Annotated[
    str | None,
    Query(
        max_length=1000,
        description="`next_cursor` of the previous page; omit for the first page.",
    ),
]
Search = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        pattern=NO_NUL,
        description="Case-insensitive substring to look for.",
    ),
]


def refuse_null(value: object) -> object:
    """For PATCH bodies: a field left out keeps its value; null there would be a mistake (the
    field cannot be cleared), so it is refused rather than read as "leave it"."""
    if value is None:
        raise ValueError("leave it out to keep it; it cannot be null")
    return value


class Deleted(BaseModel):
    deleted: bool = True


_SORT_HELP = "Order of the list; a leading - reverses it."
NameSort = Annotated[
    Literal["name", "-name", "created_at", "-created_at"], Query(description=_SORT_HELP)
]
UserSort = Annotated[
    Literal["username", "-username", "created_at", "-created_at"], Query(description=_SORT_HELP)
]
CreatedSort = Annotated[Literal["created_at", "-created_at"], Query(description=_SORT_HELP)]
SeqSort = Annotated[
    Literal["-seq", "seq"], Query(description="-seq: newest first (default); seq: oldest first.")
]


_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _not_a_number(value: object) -> object:
    # pydantic reads a bare number as seconds since 1970; the schema (and any reader) says a
    # date-time is ISO 8601 text, so `until=0.5` is refused rather than taken as 1970.
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        raise ValueError("give a date and time in ISO 8601 (2026-01-31T12:00:00Z), not a number")
    return value


# For date-time query parameters: `Annotated[datetime | None, NOT_A_NUMBER, Query(...)]`.
NOT_A_NUMBER = BeforeValidator(_not_a_number)
