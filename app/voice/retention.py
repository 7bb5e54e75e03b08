"""How long customers' unredacted originals live.

An original (`Verbatim.original_text`, the text before redaction) exists only while the admin
setting `voice_keep_original` is on, and for `voice_original_days` days after the verbatim
arrived: an original exactly that many days old is kept, a second older is purged. With the
setting off, every original still stored is purged. Purging sets the column to NULL; the
redacted text stays.

`purge_originals` is the one implementation: the scheduler's "voice" job
(app/voice/subscribers.py), the admin settings page (after a change to these settings) and
tests call it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from datetime import timedelta

import sqlalchemy as sa

from app import audit
from app.database import begin_write
from app.extensions import db
from app.models import Verbatim
from app.models import utcnow
from app.settings import get_settings

BATCH = 1000  # rows per UPDATE and transaction: short write locks on a large table
VERBATIMS = Verbatim.__table__
PURGED = "voice.originals_purged"


def purge_cutoff(now: datetime) -> tuple[datetime | None, int | None]:
    """(originals that arrived before this instant are due, the days they are kept); (None,
    None) when originals are not kept: every one is due."""
    settings = get_settings("voice_keep_original", "voice_original_days")
    if not settings["voice_keep_original"]:
        return None, None
    days = int(settings["voice_original_days"])
    return now - timedelta(days=days), days


def kept_originals() -> int:
    """How many unredacted originals are stored now (the admin settings page says it)."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(VERBATIMS).where(
            VERBATIMS.c.original_text.is_not(None))
    ) or 0


def purge_originals(
    now: datetime | None = None, *, should_stop: Callable[[], bool] = lambda: False
) -> int:
    """Purge the originals that are due, `BATCH` rows per transaction (each committed), and
    record one audit event for the run when it purged any. Returns how many were purged.

    `should_stop` (the scheduler stopping) ends the run between batches; the next run goes on.
    """
    cutoff, days = purge_cutoff(now or utcnow())
    due = VERBATIMS.c.original_text.is_not(None)
    if cutoff is not None:
        due = sa.and_(due, VERBATIMS.c.created_at < cutoff)
    batch = sa.select(VERBATIMS.c.id).where(due).order_by(VERBATIMS.c.id).limit(BATCH)
    purge = (
        sa.update(VERBATIMS)
        .where(VERBATIMS.c.id.in_(batch.scalar_subquery()))
        .values(original_text=None)
    )
    purged = 0
    while not should_stop():
        begin_write()
        done = db.session.execute(purge).rowcount
        db.session.commit()
        purged += done
        if done < BATCH:
            break
    if purged:
        begin_write()
        # `kept_days` is absent when originals are not kept (every one was purged).
        audit.record(None, PURGED, object_type="verbatim", count=purged, kept_days=days)
        db.session.commit()
    return purged
