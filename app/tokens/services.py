"""Writes of API tokens: create (personal or service), revoke, record a use."""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta

from app.models import AccessToken
from app.models import utcnow
from app.scim.services import hash_token

__all__ = ["hash_token", "touch"]

TOKEN_PREFIX = "fgf_"  # noqa: S105 - recognisable in logs and secret scanners
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per token


def touch(token: AccessToken, now: datetime | None = None) -> bool:
    """Record the use; at most once a minute, so a busy client does not write on every request."""
    now = now or utcnow()
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_EVERY:
        return False
    token.last_used_at = now
    return True
