"""Writes of the scheduler's heartbeat: one row per scheduler process (app.models.ops).

A process only ever writes its own row, so there is no race to guard: the row is created by the
first beat, touched by the next, deleted when the process stops cleanly. A crashed process
leaves its row behind; it goes stale (app.ops.queries) and is pruned after a day. The caller
commits.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta

import sqlalchemy as sa

from app.database import begin_write
from app.extensions import db
from app.models import SchedulerHeartbeat

PRUNE_AFTER = timedelta(days=1)


def parse_scheduler_id(scheduler_id: str) -> tuple[str, int, int]:
    """"host:pid:started" (app.newsletter.scheduler) -> (host, pid, started epoch seconds)."""
    host, pid, started = scheduler_id.rsplit(":", 2)
    return host, int(pid), int(started)


def beat(scheduler_id: str, now: datetime) -> SchedulerHeartbeat:
    """Record that the scheduler process `scheduler_id` is alive at `now`."""
    begin_write()
    row = db.session.get(SchedulerHeartbeat, scheduler_id)
    if row is None:
        host, pid, started = parse_scheduler_id(scheduler_id)
        row = SchedulerHeartbeat(
            id=scheduler_id, hostname=host[:255], pid=pid,
            started_at=datetime.fromtimestamp(started, now.tzinfo), seen_at=now,
        )
        db.session.add(row)
    else:
        row.seen_at = now
    return row


def forget(scheduler_id: str) -> None:
    """The process stopped cleanly: it is no longer a running scheduler."""
    begin_write()
    db.session.execute(sa.delete(SchedulerHeartbeat).where(SchedulerHeartbeat.id == scheduler_id))


def prune(now: datetime) -> int:
    """Delete the rows of processes not seen for a day (crashed or killed ones)."""
    begin_write()
    result = db.session.execute(
        sa.delete(SchedulerHeartbeat).where(SchedulerHeartbeat.seen_at < now - PRUNE_AFTER)
    )
    return result.rowcount or 0
