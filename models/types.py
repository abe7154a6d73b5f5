"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC: SQLite keeps no zone, PostgreSQL would shift it."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use triage.clock.now()")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # defensive: SQLite raw strings
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def json_list_column(**kw) -> sa.Column:
    return sa.Column(sa.JSON, nullable=False, default=list, **kw)


def json_dict_column(nullable: bool = True, **kw) -> sa.Column:
    return sa.Column(sa.JSON, nullable=nullable, **kw)


def utc_column(nullable: bool = True, index: bool = False, default=None, **kw) -> sa.Column:
    return sa.Column(UTCDateTime(), nullable=nullable, index=index, default=default, **kw)
