"""Reads of API tokens."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import AccessToken
from app.models import utcnow
from app.tokens.scopes import API_PURPOSES


def api_token_for_secret(token_hash: str) -> AccessToken | None:
    """The usable API token with this hash (not revoked, not expired), with its person loaded;
    None otherwise. Whether its person may still use it is `scopes.grants`'s decision."""
    token = db.session.scalar(
        sa.select(AccessToken)
        .options(joinedload(AccessToken.user))
        .where(
            AccessToken.token_hash == token_hash,
            AccessToken.purpose.in_(API_PURPOSES),
            AccessToken.revoked_at.is_(None),
        )
    )
    if token is None or (token.expires_at is not None and token.expires_at <= utcnow()):
        return None
    return token
