"""Retention housekeeping: audit entries and per-recipient delivery rows past their time go.

Two settings (app/settings.py; 0 keeps for ever): `retention_audit_days` and
`retention_delivery_days`. The nightly job (app/privacy/subscribers.py) deletes in batches of
`BATCH` rows, one short transaction each (SQLite's write lock is held for milliseconds), and
stops between batches when the scheduler stops.

- Audit entries older than the period go, except those other features read as state, and the
  proof a person was erased (it names nobody): SCIM's "deleted/restored through SCIM"
  (app/scim/queries.py); story and quote placement decisions (a story removed from an edition
  stays held in the approved pool: app/editions/queries.py `held_refs`, read again when the
  next edition takes the pool); the recipient-list report (`edition.recipients`,
  app/newsletter/queries.py); the scheduler's once-per-slot decisions (missed run, empty week:
  app/newsletter/due.py) and the sender's outage alert (alert once per outage). All of them
  are kept, not only the latest per object: they are a small share of the log, and "latest"
  is itself a rule of each reader. A new action read as state must be added to KEPT_ACTIONS.
- Delivery rows go for editions *sent* longer ago than the period, never for one still sending.
  The edition keeps its own counts (`recipients_count`, `sent_count`, `failed_count`, set by the
  sender's `refresh_counts`), which the report and the progress figures fall back to when an
  edition has no rows (app/newsletter/queries.py `progress`), so reports do not change. In
  per-person analytics the per-team table reads delivery rows, so the period is at least
  `engagement_person_days` (the reads are anonymized by then anyway); the relay's sending cap
  counts the messages sent in its window from delivery rows (app/newsletter/pacing.py), so the
  period is also at least `send_cap_window_hours`, rounded up to days.
- Per-person reading data has its own retention, run by the engagement feature's own job
  (app/engagement/subscribers.py, `engagement_person_days`): not repeated here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

import sqlalchemy as sa

from app.database import begin_write
from app.editions.queries import PLACEMENT_ACTIONS
from app.extensions import db
from app.models import AuditEvent
from app.models import Delivery
from app.models import Edition
from app.models import EditionStatus
from app.models import utcnow
from app.newsletter.due import EMPTY_WEEK
from app.newsletter.due import MISSED
from app.newsletter.sending import SEND_OUTAGE_ALERT
from app.scim.queries import GROUP_DELETED
from app.scim.queries import GROUP_REVIVED
from app.scim.queries import USER_DELETED
from app.scim.queries import USER_REVIVED
from app.settings import get_settings

BATCH = 2000
ERASURE_ACTION = "user.erase"
RECIPIENT_REPORT = "edition.recipients"  # app/newsletter/sending.py records it
# Actions other features read back as state (see the module docstring): never pruned.
STATE_ACTIONS = (
    *(f"{kind}.{action}" for kind in ("story", "quote") for action in PLACEMENT_ACTIONS),
    RECIPIENT_REPORT, MISSED, EMPTY_WEEK, SEND_OUTAGE_ALERT,
)
KEPT_ACTIONS = (USER_DELETED, *USER_REVIVED, GROUP_DELETED, *GROUP_REVIVED, ERASURE_ACTION,
                *STATE_ACTIONS)


@dataclass(frozen=True)
class Cutoffs:
    """Rows older than these go (None: kept for ever)."""

    audit: datetime | None
    deliveries: datetime | None


@dataclass(frozen=True)
class Pruned:
    audit: int = 0
    deliveries: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def cutoffs(now: datetime | None = None) -> Cutoffs:
    now = now or utcnow()
    values = get_settings("retention_audit_days", "retention_delivery_days",
                          "engagement_person_days", "send_cap_window_hours")
    audit_days = int(values["retention_audit_days"])
    delivery_days = int(values["retention_delivery_days"])
    if delivery_days:
        cap_days = math.ceil(int(values["send_cap_window_hours"] or 24) / 24)  # as pacing reads it
        delivery_days = max(delivery_days, int(values["engagement_person_days"]), cap_days)
    return Cutoffs(
        audit=now - timedelta(days=audit_days) if audit_days else None,
        deliveries=now - timedelta(days=delivery_days) if delivery_days else None,
    )


def _old_audit(before: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(AuditEvent.created_at < before, AuditEvent.action.not_in(KEPT_ACTIONS))


def _old_editions(before: datetime) -> sa.Select:
    return sa.select(Edition.id).where(Edition.status == EditionStatus.SENT,
                                       Edition.sent_at < before)


def due(now: datetime | None = None) -> Pruned:
    """What the next run would delete (the Privacy page says so)."""
    limits = cutoffs(now)
    audit = deliveries = 0
    if limits.audit is not None:
        audit = db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditEvent).where(_old_audit(limits.audit))
        ) or 0
    if limits.deliveries is not None:
        deliveries = db.session.scalar(
            sa.select(sa.func.count()).select_from(Delivery)
            .where(Delivery.edition_id.in_(_old_editions(limits.deliveries)))
        ) or 0
    return Pruned(audit=int(audit), deliveries=int(deliveries))


def _delete_batch(model: type[AuditEvent] | type[Delivery], condition: sa.ColumnElement[bool],
                  batch: int) -> int:
    """Delete up to `batch` rows matching `condition`, by id (a bounded statement on every
    database: no DELETE ... LIMIT needed). The caller commits."""
    ids = list(db.session.scalars(sa.select(model.id).where(condition).order_by(model.id)
                                  .limit(batch)))
    if ids:
        db.session.execute(sa.delete(model).where(model.id.in_(ids)),
                           execution_options={"synchronize_session": False})
    return len(ids)


def prune_audit(before: datetime, *, batch: int = BATCH) -> int:
    return _delete_batch(AuditEvent, _old_audit(before), batch)


def prune_deliveries(before: datetime, *, batch: int = BATCH) -> int:
    return _delete_batch(Delivery, Delivery.edition_id.in_(_old_editions(before)), batch)


def run(should_stop: Callable[[], bool] = lambda: False, now: datetime | None = None, *,
        batch: int = BATCH) -> Pruned:
    """Delete everything past its retention, a batch per transaction; returns the counts."""
    totals = {"audit": 0, "deliveries": 0}
    for name, prune in (("audit", prune_audit), ("deliveries", prune_deliveries)):
        while not should_stop():
            begin_write()
            before = getattr(cutoffs(now), name)
            done = prune(before, batch=batch) if before is not None else 0
            db.session.commit()
            totals[name] += done
            if done < batch:
                break
    return Pruned(**totals)
