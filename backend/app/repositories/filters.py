"""Filter helpers shared by the list queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_


def escape_like(text: str) -> str:
    """`text` matched literally inside LIKE: its %, _ and backslashes are not wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains(text: str, *columns: Any) -> ColumnElement[bool]:
    """Case-insensitive substring match of `text` in any of `columns`."""
    pattern = f"%{escape_like(text)}%"
    return or_(*(column.ilike(pattern, escape="\\") for column in columns))
