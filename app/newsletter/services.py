"""Writes the archive and unsubscribe pages make: an edition's web view counted, a reader's
opt-out recorded.

Plain functions with explicit arguments; the caller commits (the pages commit once).
"""

from __future__ import annotations

import sqlalchemy as sa

from app import audit
from app.database import begin_write
from app.extensions import db
from app.models import Edition
from app.models import User
from app.models import utcnow
from app.newsletter.tokens import UnsubscribeTarget


def count_view(edition: Edition) -> None:
    """web_views + 1 in SQL: concurrent readers never lose a count, and no version bump (a
    reader is not an editor's change). The page is a GET, which begins as a reader; the count
    needs a write transaction (`begin_write`), so on SQLite it waits for the lock instead of
    failing."""
    table = Edition.__table__
    edition_id = edition.id
    begin_write()
    db.session.execute(
        sa.update(table).where(table.c.id == edition_id).values(web_views=table.c.web_views + 1)
    )


def unsubscribe(target: UnsubscribeTarget, user: User | None, *, one_click: bool) -> None:
    """Stop the weekly email for `user` (the signed link's person; a second click changes
    nothing). A link for an address an admin added (a distribution list, `user` None) is never
    dropped on one click, since anyone on the list could; it leaves a trace for the admins."""
    if user is None:
        audit.record(None, "newsletter.unsubscribe_request", object_type="newsletter",
                     email=target.email)
        return
    if user.email_opt_out:
        return
    user.email_opt_out = True
    user.opted_out_at = utcnow()
    audit.record(user, "user.email_opt_out", user,
                 via="one_click" if one_click else "unsubscribe_link")
