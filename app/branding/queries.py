"""Branding reads: the private feed tokens (the settings themselves: app.branding.brand)."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import AccessToken
from app.models import User

FEED_PURPOSE = "feed"


def feed_token_of(user_id: int) -> AccessToken | None:
    """The person's working private feed token, if any."""
    return db.session.scalar(
        sa.select(AccessToken)
        .where(
            AccessToken.purpose == FEED_PURPOSE,
            AccessToken.created_by_id == user_id,
            AccessToken.revoked_at.is_(None),
        )
        .order_by(AccessToken.created_at.desc(), AccessToken.id.desc())
        .limit(1)
    )


def feed_token_by_hash(token_hash: str) -> AccessToken | None:
    """The unrevoked feed token with this hash whose owner is an active account. Looked up by
    the hash (a unique index): nothing compares the secret itself, byte by byte, in Python."""
    return db.session.scalar(
        sa.select(AccessToken)
        .join(User, User.id == AccessToken.created_by_id)
        .where(
            AccessToken.token_hash == token_hash,
            AccessToken.purpose == FEED_PURPOSE,
            AccessToken.revoked_at.is_(None),
            User.is_active_user.is_(True),
        )
    )
