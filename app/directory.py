"""Accounts and teams by their natural keys: an email address, a team name. Used by sign-in,
single sign-on, SCIM, the imports and the email receiver alike (a module of its own: the
feature packages import their views when loaded, so none of them is a safe home for these)."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import Team
from app.models import User

EMAIL_MAX = User.__table__.c.email.type.length
NAME_MAX = User.__table__.c.display_name.type.length


def user_by_email(email: str, *, for_update: bool = False) -> User | None:
    """The account with `email`, however it is capitalised (stored lower-cased), or None (an
    address longer than any stored is nobody's). `for_update` locks its row (PostgreSQL)."""
    if len(email) > EMAIL_MAX:
        return None
    statement = sa.select(User).where(User.email == User.normalize_email(email))
    return db.session.scalar(statement.with_for_update() if for_update else statement)


def team_by_name(name: str) -> Team | None:
    """The team called `name`, whatever its capitalisation (names are unique that way)."""
    return db.session.scalar(sa.select(Team).where(sa.func.lower(Team.name) == name.lower()))
