"""Readership housekeeping: per-person events past the retention period are anonymized."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from datetime import timedelta

from app.database import begin_write
from app.engagement.services import anonymize_person_events
from app.extensions import db
from app.jobs import scheduled
from app.models import utcnow
from app.settings import get_setting

BATCH = 5000  # messages per transaction: short write locks on SQLite


@scheduled("engagement", "Anonymize per-person reading data past its retention",
           every="SCHEDULER_ENGAGEMENT_SECONDS")
def anonymize_expired(should_stop: Callable[[], bool], now: datetime | None = None, *,
                      batch: int = BATCH) -> int:
    """Every message with a per-person event older than `engagement_person_days` loses its
    names (`anonymize_person_events`); batches are committed one by one, and `should_stop`
    (the scheduler stopping) ends the run between them. Returns how many messages."""
    total = 0
    while not should_stop():
        begin_write()
        days = int(get_setting("engagement_person_days"))
        done = anonymize_person_events(before=(now or utcnow()) - timedelta(days=days),
                                       limit=batch)
        db.session.commit()
        total += done
        if done < batch:
            break
    return total
