"""Declarative base, shared column types and helpers for every model.

The naming convention gives every constraint and index a deterministic name, so Alembic
autogenerate produces stable migrations on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class LabeledEnum(StrEnum):
    """A stored status or role labelled by its value in words: "changes_requested" reads
    "Changes requested"; one rule, so every status reads alike across the app."""

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


def utcnow() -> datetime:
    """An aware UTC timestamp; every stored time is UTC."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Stores naive UTC, returns aware UTC on every backend.

    SQLite has no time zone type, so `DateTime(timezone=True)` would hand back naive values there
    and aware ones on PostgreSQL; normalising here keeps comparisons identical on both.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column; use an aware UTC time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def enum_column(enum_cls, **kwargs) -> sa.Enum:
    """A portable enum stored as its string values (VARCHAR, no native PG type to migrate)."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
        **kwargs,
    )
