"""Column types shared by the tables: UTC date-times, JSON documents and text enums.

Both databases must give back the same Python values: SQLite has no time zones and no JSON type,
so date-times are stored as UTC and handed back timezone-aware, and JSON is text on SQLite and
``JSONB`` on PostgreSQL.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, Dialect, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["JSON_DOCUMENT", "EnumText", "UtcDateTime", "utc_now"]

JSON_DOCUMENT: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")
"""A JSON object column: ``JSONB`` on PostgreSQL, JSON text on SQLite."""


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware date-time stored as UTC; naive values are refused (they are ambiguous)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"a stored time must be timezone-aware, got naive {value.isoformat()}")
        in_utc = value.astimezone(UTC)
        # SQLite's DATETIME text has no offset: store UTC wall time, re-attach UTC when reading
        return in_utc.replace(tzinfo=None) if dialect.name == "sqlite" else in_utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_E = TypeVar("_E", bound=enum.StrEnum)


class EnumText(TypeDecorator[_E]):
    """A :class:`enum.StrEnum` stored as its text value (the table adds a CHECK constraint)."""

    impl = String
    cache_ok = True

    def __init__(self, enum_type: type[_E], length: int = 20) -> None:
        super().__init__(length)
        self.enum_type = enum_type

    def process_bind_param(self, value: _E | str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self.enum_type(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> _E | None:
        return None if value is None else self.enum_type(value)
