"""What the API and SCIM guards share: reading the bearer token off the request, and noting
that a token was used (its `last_used_at`)."""

from __future__ import annotations

from flask import request

from app.database import begin_write
from app.extensions import db
from app.models import AccessToken
from app.tokens.services import touch

SECRET_MAX = 200  # longer than any token this app makes; bounds the hashing of junk


def bearer() -> str | None:
    """The token in `Authorization: Bearer <token>`, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials or len(credentials) > SECRET_MAX:
        return None
    return credentials


def note_use(token: AccessToken, *, reads: bool) -> AccessToken | None:
    """Record the use (at most once a minute, `touch`). A write request's note commits with its
    change; a read request begins as a reader (app/database.py), so it takes the write lock for
    the note, commits it, and goes on reading. Returns the token to use from here on (reloaded
    after that commit), or None when it was revoked meanwhile."""
    if not touch(token):
        return token
    if not reads:
        return token
    token_id = token.id
    db.session.rollback()
    begin_write()
    fresh = db.session.get(AccessToken, token_id)
    if fresh is None or fresh.revoked_at is not None:
        db.session.rollback()
        return None
    touch(fresh)
    db.session.commit()
    return db.session.get(AccessToken, token_id)
