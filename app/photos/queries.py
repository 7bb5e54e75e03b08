"""Reads about profile photos (the rest travels with the people queries of each page)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from app.extensions import db
from app.models import User


def is_referenced(key: str) -> bool:
    """Whether an account's photo is `key`."""
    return db.session.scalar(sa.select(User.id).where(User.photo_key == key).limit(1)) is not None


def referenced_keys(keys: Iterable[str]) -> set[str]:
    """Those of `keys` some account's photo is (one query per 500 keys)."""
    wanted, found = list(keys), set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(db.session.scalars(sa.select(User.photo_key).where(User.photo_key.in_(chunk))))
    return found


def photo_key_of(user_id: int) -> str | None:
    return db.session.scalar(sa.select(User.photo_key).where(User.id == user_id))
