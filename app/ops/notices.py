"""The editors' warning on the upcoming-edition page when no scheduler is running.

A template global (registered by app.ops.init_app), called by templates/ops/_scheduler_warning
.html: the page does not need to know about heartbeats, and the decision stays in
app.ops.queries.scheduler_status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from app.models import utcnow
from app.newsletter.due import upcoming
from app.ops.queries import SchedulerStatus
from app.ops.queries import scheduler_status
from app.settings import get_settings

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class SchedulerWarning:
    day: str  # "Friday": the weekday of the next send, in the organization's time zone
    next_send: datetime | None
    status: SchedulerStatus

    @property
    def message(self) -> str:
        return f"No scheduler is running: {self.day}'s edition will not go out"


def next_send(now: datetime) -> tuple[str, datetime | None]:
    """The next open edition's due time and its weekday, else the schedule's weekday."""
    values = get_settings("send_weekday", "timezone")
    dues = sorted(due.at for _edition, due in upcoming(now))
    if dues:
        return WEEKDAYS[dues[0].astimezone(ZoneInfo(values["timezone"])).weekday()], dues[0]
    return WEEKDAYS[int(values["send_weekday"]) % 7], None


def scheduler_warning(now: datetime | None = None) -> SchedulerWarning | None:
    """A warning when no scheduler process was seen within SCHEDULER_STALE_SECONDS, else None."""
    now = now or utcnow()
    status = scheduler_status(now)
    if not status.missing:
        return None
    day, at = next_send(now)
    return SchedulerWarning(day=day, next_send=at, status=status)
