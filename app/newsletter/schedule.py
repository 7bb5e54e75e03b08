"""When is an edition due? Pure functions over settings and edition rows, with an explicit `now`.

The scheduler does not keep a weekly cron trigger (whose state would go stale when an admin edits
the send time, and which APScheduler would silently skip after a one-second misfire grace).
Every tick asks these functions what is due *now*, from the database and the current settings,
so schedule changes need no restart, downtime is handled from the rows, and tests can move the
clock anywhere (daylight-saving weeks, a changed time zone) without waiting.

Local wall-clock time is kept across daylight-saving changes: a slot is built from the local
date and time in the organization's zone, then converted to UTC. A time the clocks skip maps to
the hour after (02:30 on spring-forward day goes out at 03:30); a time that happens twice means
the first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from zoneinfo import ZoneInfo

from app.models import Edition


@dataclass(frozen=True, slots=True)
class WeeklySlot:
    """A weekday and a wall-clock time in a zone: "Fridays at 09:00 Europe/Paris"."""

    weekday: int
    at: time
    zone: ZoneInfo

    @classmethod
    def from_settings(cls, weekday: int, hhmm: str, zone: str) -> WeeklySlot:
        hour, minute = (int(part) for part in str(hhmm).split(":"))
        return cls(int(weekday), time(hour, minute), ZoneInfo(zone))

    def on(self, day: date) -> datetime:
        """That local day's slot, in UTC."""
        return datetime.combine(day, self.at, tzinfo=self.zone).astimezone(UTC)

    def first_after(self, after: datetime, *, skip_weeks: Iterable[str] = ()) -> datetime:
        """The first slot strictly after `after` whose ISO week is not in `skip_weeks`."""
        skip = set(skip_weeks)
        local_day = after.astimezone(self.zone).date()
        day = local_day + timedelta(days=(self.weekday - local_day.weekday()) % 7)
        while True:
            slot = self.on(day)
            if slot > after and iso_week(day) not in skip:
                return slot
            day += timedelta(days=7)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        at = self.first_after(moment - timedelta(days=8))
        while (following := self.first_after(at)) <= moment:
            at = following
        return at

    def week_of(self, moment: datetime) -> str:
        return iso_week(moment.astimezone(self.zone).date())


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True, slots=True)
class Due:
    """When an open edition goes out, and whether that is an editor's explicit time."""

    edition_id: int
    at: datetime
    is_override: bool


def due_times(
    editions: list[Edition],
    slot: WeeklySlot,
    *,
    taken_weeks: set[str],
    skipped_slots: dict[int, set[datetime]],
    schedule_changed_at: datetime | None,
) -> list[Due]:
    """Due time of each open edition, in number order.

    An editor's `scheduled_at` wins. Otherwise an edition takes the first weekly slot after it
    was created (and after the schedule was last changed, so moving the send day never makes an
    edition instantly "late") in an ISO week that no other edition used and that was not given
    up for it (a missed run past its grace, or an empty week). Each edition then takes its week,
    so two open editions never share one.
    """
    taken = set(taken_weeks)
    result = []
    for edition in sorted(editions, key=lambda e: e.number):
        if edition.scheduled_at is not None:
            at, override = edition.scheduled_at, True
        else:
            anchor = edition.created_at
            if schedule_changed_at is not None and schedule_changed_at > anchor:
                anchor = schedule_changed_at
            given_up = {slot.week_of(s) for s in skipped_slots.get(edition.id, set())}
            at, override = slot.first_after(anchor, skip_weeks=taken | given_up), False
        taken.add(slot.week_of(at))
        result.append(Due(edition.id, at, override))
    return result
