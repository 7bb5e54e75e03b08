"""Reporting periods and their Monday weeks, in the organization's time zone.

Week boundaries are computed here, in Python, as the UTC instants of each local Monday 00:00, and
the queries only compare stored UTC times against them. Doing the time-zone arithmetic once, on
this side, is what keeps weekly figures identical on SQLite (no time zone support) and
PostgreSQL, and correct across daylight-saving changes (a week is then 167 or 169 hours long).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

PERIOD_CHOICES: dict[str, str] = {
    "4w": "Last 4 weeks",
    "quarter": "Last 13 weeks (quarter)",
    "year": "Last 52 weeks (year)",
    "custom": "Custom dates",
}
DEFAULT_PERIOD = "4w"
ROLLING_WEEKS = {"4w": 4, "quarter": 13, "year": 52}
# Weekly charts stay readable, and the bucketing CASE stays short, up to about two years.
MAX_CUSTOM_DAYS = 731
# Up to a quarter, a trend is drawn per week; beyond, per month (a year of weekly scores from
# a few dozen responses each would be mostly noise).
MAX_TREND_WEEKS = 13


def local_midnight_utc(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which `day` begins in `tz`."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _short(day: date) -> str:
    return f"{day.day} {day:%b}"


@dataclass(frozen=True)
class Week:
    """One Monday week of a period, clipped to the period's first and last day."""

    index: int
    monday: date
    first_day: date
    last_day: date
    start_utc: datetime
    end_utc: datetime  # exclusive

    @property
    def iso_label(self) -> str:
        """ISO 8601 week, e.g. "2026-W53" (Monday 28 Dec 2026 to Sunday 3 Jan 2027)."""
        year, week, _ = self.monday.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def short_label(self) -> str:
        """Axis label: the week's first counted day, e.g. "28 Dec"."""
        return _short(self.first_day)

    @property
    def is_partial(self) -> bool:
        return self.last_day - self.first_day < timedelta(days=6)

    @property
    def dates_label(self) -> str:
        """Days covered, e.g. "28 Dec 2026 – 3 Jan 2027"."""
        first, last = self.first_day, self.last_day
        return f"{_short(first)} {first.year} – {_short(last)} {last.year}"


@dataclass(frozen=True)
class Month:
    """One calendar month of a period, clipped to the period's first and last day."""

    index: int
    first_day: date
    last_day: date

    @property
    def iso_label(self) -> str:
        """ISO 8601 month, e.g. "2026-03"."""
        return f"{self.first_day:%Y-%m}"

    @property
    def short_label(self) -> str:
        """Axis label, e.g. "Mar 2026"."""
        return f"{self.first_day:%b %Y}"

    @property
    def dates_label(self) -> str:
        first, last = self.first_day, self.last_day
        return f"{_short(first)} {first.year} – {_short(last)} {last.year}"


@dataclass(frozen=True)
class Period:
    """A range of whole local days [start, end] and the Monday weeks that cover it."""

    key: str
    start: date
    end: date  # inclusive
    timezone: str
    weeks: tuple[Week, ...]

    @property
    def start_utc(self) -> datetime:
        return self.weeks[0].start_utc

    @property
    def end_utc(self) -> datetime:
        """Exclusive: the instant the day after `end` begins."""
        return self.weeks[-1].end_utc

    @property
    def label(self) -> str:
        return PERIOD_CHOICES[self.key]

    @property
    def dates_label(self) -> str:
        return f"{self.start.day} {self.start:%b %Y} – {self.end.day} {self.end:%b %Y}"

    @property
    def slug(self) -> str:
        """For file names: "2026-01-05_2026-03-29"."""
        return f"{self.start.isoformat()}_{self.end.isoformat()}"

    @property
    def months(self) -> tuple[Month, ...]:
        """The calendar months the period touches, the first and last clipped to it."""
        months = []
        first = self.start
        while first <= self.end:
            following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            last = min(following - timedelta(days=1), self.end)
            months.append(Month(index=len(months), first_day=first, last_day=last))
            first = following
        return tuple(months)

    @property
    def trend_buckets(self) -> tuple[Week, ...] | tuple[Month, ...]:
        """Weeks up to a quarter, months beyond (see MAX_TREND_WEEKS)."""
        return self.weeks if len(self.weeks) <= MAX_TREND_WEEKS else self.months

    def query_args(self) -> dict[str, str]:
        """URL parameters that select this same period again (links, CSV exports)."""
        if self.key == "custom":
            return {"period": "custom", "from": self.start.isoformat(), "to": self.end.isoformat()}
        return {"period": self.key}


def build_period(key: str, start: date, end: date, timezone: str) -> Period:
    """The period [start, end] (local days) with one `Week` per Monday week it touches."""
    if end < start:
        raise ValueError("a period cannot end before it starts")
    tz = ZoneInfo(timezone)
    weeks = []
    monday = monday_of(start)
    index = 0
    while monday <= end:
        first_day = max(monday, start)
        last_day = min(monday + timedelta(days=6), end)
        weeks.append(
            Week(
                index=index,
                monday=monday,
                first_day=first_day,
                last_day=last_day,
                start_utc=local_midnight_utc(first_day, tz),
                end_utc=local_midnight_utc(last_day + timedelta(days=1), tz),
            )
        )
        monday += timedelta(days=7)
        index += 1
    return Period(key=key, start=start, end=end, timezone=timezone, weeks=tuple(weeks))


def rolling_period(key: str, today: date, timezone: str) -> Period:
    """The current (partial) week and the whole weeks before it: N Monday weeks up to today."""
    start = monday_of(today) - timedelta(weeks=ROLLING_WEEKS[key] - 1)
    return build_period(key, start, today, timezone)


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        return None


def resolve_period(
    args: Mapping[str, str], *, timezone: str, today: date | None = None
) -> tuple[Period, str | None]:
    """The period a request asks for, and a user-facing message when the request was unusable.

    An unusable request (unknown key, bad or reversed dates, too long) falls back to the default
    period rather than failing: the page always shows something, with the reason.
    """
    today = today or datetime.now(ZoneInfo(timezone)).date()
    key = args.get("period") or DEFAULT_PERIOD
    if key not in PERIOD_CHOICES:
        return rolling_period(
            DEFAULT_PERIOD, today, timezone
        ), "Unknown period; showing the last 4 weeks."
    if key != "custom":
        return rolling_period(key, today, timezone), None
    start, end = _parse_date(args.get("from")), _parse_date(args.get("to"))
    problem = None
    if start is None or end is None:
        problem = "Choose both a start and an end date (YYYY-MM-DD) for a custom period."
    elif end < start:
        problem = "The end date is before the start date."
    elif (end - start).days >= MAX_CUSTOM_DAYS:
        problem = "A custom period can cover at most two years."
    if problem or start is None or end is None:
        return rolling_period(
            DEFAULT_PERIOD, today, timezone
        ), f"{problem} Showing the last 4 weeks."
    return build_period("custom", start, end, timezone), None
