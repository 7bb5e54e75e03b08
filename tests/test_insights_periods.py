"""Period selection and Monday weeks in the organization's time zone (pure functions, no DB)."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta

import pytest

from app.insights.periods import build_period
from app.insights.periods import resolve_period
from app.insights.periods import rolling_period

PARIS = "Europe/Paris"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_year_boundary_has_iso_week_53():
    period = build_period("custom", date(2026, 12, 21), date(2027, 1, 10), PARIS)
    assert [w.iso_label for w in period.weeks] == ["2026-W52", "2026-W53", "2027-W01"]
    w53 = period.weeks[1]
    assert (w53.monday, w53.last_day) == (date(2026, 12, 28), date(2027, 1, 3))
    assert w53.dates_label == "28 Dec 2026 – 3 Jan 2027"
    # Local midnight in Paris (UTC+1 in winter) is 23:00 UTC the day before.
    assert w53.start_utc == utc("2026-12-27 23:00")
    assert w53.end_utc == utc("2027-01-03 23:00")
    assert period.start_utc == utc("2026-12-20 23:00")
    assert period.end_utc == utc("2027-01-10 23:00")


def test_weeks_follow_daylight_saving_changes():
    spring = build_period("custom", date(2026, 3, 16), date(2026, 4, 5), PARIS)
    w12, w13, w14 = spring.weeks
    assert [w.iso_label for w in spring.weeks] == ["2026-W12", "2026-W13", "2026-W14"]
    assert w13.start_utc == utc("2026-03-22 23:00")  # CET, UTC+1
    assert w13.end_utc == utc("2026-03-29 22:00")  # CEST, UTC+2 since Sunday 29 March
    assert w13.end_utc - w13.start_utc == timedelta(hours=167)
    assert w12.end_utc - w12.start_utc == timedelta(hours=168)
    assert w14.start_utc == w13.end_utc

    autumn = build_period("custom", date(2026, 10, 19), date(2026, 10, 25), PARIS)
    (week,) = autumn.weeks
    assert week.end_utc - week.start_utc == timedelta(hours=169)


def test_weeks_are_clipped_to_the_period():
    period = build_period("custom", date(2026, 1, 1), date(2026, 1, 14), "UTC")  # a Thursday
    first, second, third = period.weeks
    assert first.iso_label == "2026-W01" and first.monday == date(2025, 12, 29)
    assert (first.first_day, first.last_day, first.is_partial) == (
        date(2026, 1, 1),
        date(2026, 1, 4),
        True,
    )
    assert not second.is_partial
    assert (third.first_day, third.last_day) == (date(2026, 1, 12), date(2026, 1, 14))
    assert first.start_utc == utc("2026-01-01 00:00")


def test_rolling_periods_end_today_and_start_on_a_monday():
    today = date(2027, 1, 6)  # a Wednesday in 2027-W01
    four = rolling_period("4w", today, PARIS)
    assert four.start == date(2026, 12, 14) and four.end == today
    assert [w.iso_label for w in four.weeks] == ["2026-W51", "2026-W52", "2026-W53", "2027-W01"]
    year = rolling_period("year", today, PARIS)
    assert len(year.weeks) == 52 and year.weeks[0].monday.weekday() == 0
    assert "2026-W53" in [w.iso_label for w in year.weeks]
    assert len(rolling_period("quarter", today, PARIS).weeks) == 13


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"period": "decade"}, "Unknown period"),
        ({"period": "custom", "from": "2026-01-01"}, "Choose both"),
        ({"period": "custom", "from": "2026-02-01", "to": "2026-01-01"}, "before the start"),
        ({"period": "custom", "from": "2020-01-01", "to": "2026-01-01"}, "at most two years"),
        ({"period": "custom", "from": "yesterday", "to": "2026-01-01"}, "Choose both"),
    ],
)
def test_unusable_requests_fall_back_to_four_weeks(args, message):
    period, problem = resolve_period(args, timezone=PARIS, today=date(2026, 3, 4))
    assert period.key == "4w" and len(period.weeks) == 4
    assert message in problem


def test_custom_period_round_trips_through_query_args():
    args = {"period": "custom", "from": "2026-03-16", "to": "2026-04-05"}
    period, problem = resolve_period(args, timezone=PARIS, today=date(2026, 5, 1))
    assert problem is None
    assert period.query_args() == args
    assert period.slug == "2026-03-16_2026-04-05"
    assert resolve_period({}, timezone=PARIS, today=date(2026, 5, 1))[0].key == "4w"
