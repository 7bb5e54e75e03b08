"""The database reads behind the scrape-time gauges: three aggregate statements, whatever the
number of editions and deliveries (tests/test_metrics.py counts them).

Every process reads the same rows, so every web worker reports the same value and nothing is
summed twice. Each read is an index range or a grouped count: the last minute's sends and the
latest send come from ix_deliveries_sent_at, the heartbeat from scheduler_heartbeats.seen_at.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.models import Delivery
from app.models import Edition
from app.models import SchedulerHeartbeat

SEND_RATE_WINDOW = timedelta(minutes=1)


@dataclass
class Snapshot:
    editions: dict[str, int] = field(default_factory=dict)  # by status value
    deliveries: dict[str, int] = field(default_factory=dict)
    sent_last_minute: int = 0
    last_sent_at: datetime | None = None
    last_heartbeat_at: datetime | None = None


def snapshot(conn: Connection, now: datetime) -> Snapshot:
    editions = conn.execute(
        sa.select(Edition.status, sa.func.count()).group_by(Edition.status))
    deliveries = conn.execute(
        sa.select(Delivery.status, sa.func.count()).group_by(Delivery.status))
    recent = (sa.select(sa.func.count()).select_from(Delivery)
              .where(Delivery.sent_at >= now - SEND_RATE_WINDOW).scalar_subquery())
    last_sent = sa.select(sa.func.max(Delivery.sent_at)).scalar_subquery()
    heartbeat = sa.select(sa.func.max(SchedulerHeartbeat.seen_at)).scalar_subquery()
    # A scalar subquery loses the column's type (UTCDateTime): label them with it again.
    row = conn.execute(sa.select(
        recent,
        sa.type_coerce(last_sent, Delivery.sent_at.type),
        sa.type_coerce(heartbeat, SchedulerHeartbeat.seen_at.type),
    )).one()
    return Snapshot(
        editions={_value(s): n for s, n in editions},
        deliveries={_value(s): n for s, n in deliveries},
        sent_last_minute=int(row[0] or 0),
        last_sent_at=row[1],
        last_heartbeat_at=row[2],
    )


def _value(status: object) -> str:
    return str(getattr(status, "value", status))
