"""When each open edition is due, by the scheduler's rules, read from settings and rows.

Shared by the scheduler's jobs (app.newsletter.jobs) and the upcoming-edition pages
(app.editions.queries), so the page and the sender always agree; it only reads.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent
from app.models import Edition
from app.models import EditionStatus
from app.models import Setting
from app.newsletter.schedule import Due
from app.newsletter.schedule import WeeklySlot
from app.newsletter.schedule import due_times
from app.settings import get_settings

E = EditionStatus
OPEN = (E.DRAFT, E.SCHEDULED)
WEEK_USED = (E.SENDING, E.SENT, E.SKIPPED)
SCHEDULE_KEYS = ("send_weekday", "send_time", "timezone")
# Audit actions recording a slot that was given up (the week is not sent automatically).
MISSED = "newsletter.missed_run"
EMPTY_WEEK = "newsletter.empty_week"


def upcoming(now: datetime) -> list[tuple[Edition, Due]]:
    """Open editions with their due time, from the current settings and rows."""
    values = get_settings(*SCHEDULE_KEYS)
    slot = WeeklySlot.from_settings(values["send_weekday"], values["send_time"], values["timezone"])
    editions = list(
        db.session.scalars(sa.select(Edition).where(Edition.status.in_(OPEN)).order_by(Edition.number))
    )
    if not editions:
        return []
    taken = set(
        db.session.scalars(
            sa.select(Edition.iso_week).where(
                Edition.status.in_(WEEK_USED), Edition.iso_week.is_not(None)
            )
        )
    )
    changed_at = db.session.scalar(
        sa.select(sa.func.max(Setting.updated_at)).where(Setting.key.in_(SCHEDULE_KEYS))
    )
    given_up: dict[int, set[datetime]] = {}
    for event in events((MISSED, EMPTY_WEEK), [e.id for e in editions]):
        due_at = due_at_of(event)
        if due_at is not None:
            given_up.setdefault(event.object_id, set()).add(due_at)
    dues = due_times(
        editions, slot, taken_weeks=taken, skipped_slots=given_up, schedule_changed_at=changed_at
    )
    by_id = {e.id: e for e in editions}
    return [(by_id[d.edition_id], d) for d in dues]


def events(actions: tuple[str, ...], object_ids: list[int | None]) -> list[AuditEvent]:
    """The audit events recording once-per-slot decisions about these editions."""
    query = sa.select(AuditEvent).where(AuditEvent.action.in_(actions))
    ids = [i for i in object_ids if i is not None]
    if ids:
        query = query.where(AuditEvent.object_id.in_(ids))
    else:
        query = query.where(AuditEvent.object_id.is_(None))
    return list(db.session.scalars(query))


def due_at_of(event: AuditEvent) -> datetime | None:
    """The slot a decision event is about (its `due_at` detail)."""
    value = (event.details or {}).get("due_at")
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
