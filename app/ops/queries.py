"""Reads for readiness and the System status page: which scheduler processes are alive.

`scheduler_status` is the one place that decides "no scheduler is running": readiness, the
admin page and the editors' warning all ask it, with SCHEDULER_STALE_SECONDS (default 300 s,
five missed heartbeats at the default SCHEDULER_HEARTBEAT_SECONDS of 60 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models import SchedulerHeartbeat


@dataclass(frozen=True)
class SchedulerStatus:
    processes: list[SchedulerHeartbeat]  # alive: seen within the stale limit, newest first
    last_seen: datetime | None  # by any process, alive or not
    stale_seconds: int
    now: datetime

    @property
    def missing(self) -> bool:
        return not self.processes

    @property
    def message(self) -> str:
        if not self.missing:
            assert self.last_seen is not None
            return f"seen {seconds_ago(self.now, self.last_seen)} s ago"
        limit = describe_seconds(self.stale_seconds)
        if self.last_seen is None:
            return f"no scheduler seen for {limit} (none has ever reported)"
        return (f"no scheduler seen for {limit} "
                f"(last seen {seconds_ago(self.now, self.last_seen)} s ago)")


def seconds_ago(now: datetime, then: datetime) -> int:
    return max(0, int((now - then).total_seconds()))


def describe_seconds(seconds: int) -> str:
    """300 -> "5 minutes", 90 -> "90 seconds", 3600 -> "60 minutes"."""
    if seconds % 60 == 0 and seconds >= 60:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def scheduler_status(now: datetime, stale_seconds: int | None = None) -> SchedulerStatus:
    """The scheduler processes seen within `stale_seconds` (SCHEDULER_STALE_SECONDS) of `now`."""
    if stale_seconds is None:
        stale_seconds = int(current_app.config["SCHEDULER_STALE_SECONDS"])
    rows = list(db.session.scalars(
        sa.select(SchedulerHeartbeat).order_by(SchedulerHeartbeat.seen_at.desc())
    ))
    cutoff = now - timedelta(seconds=stale_seconds)
    return SchedulerStatus(
        processes=[row for row in rows if row.seen_at >= cutoff],
        last_seen=rows[0].seen_at if rows else None,
        stale_seconds=stale_seconds,
        now=now,
    )
