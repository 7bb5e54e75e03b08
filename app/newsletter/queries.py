"""Reads for the archive, the edition page, its live progress and the Atom feed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models import AuditEvent
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import Edition
from app.models import EditionItem
from app.models import EditionStatus
from app.models import utcnow
from app.newsletter.pacing import Limits
from app.newsletter.pacing import current_limits
from app.newsletter.pacing import frees_at
from app.newsletter.pacing import sent_in_window
from app.newsletter.pacing import used_in_window

PER_PAGE = 12
FEED_SIZE = 20
FAILED_LIST_LIMIT = 100


# The archive lists the weeks that were skipped too: numbers are permanent (they are in subjects,
# links and the feed), so a gap ("#6, #8") is explained where readers see it, not renumbered.
ARCHIVED = (EditionStatus.SENT, EditionStatus.SKIPPED)


@dataclass(frozen=True)
class ArchiveEntry:
    edition: Edition
    stories: int
    quotes: int

    @property
    def skipped(self) -> bool:
        return self.edition.status == EditionStatus.SKIPPED


def week_day(iso_week: str | None, weekday: int) -> date | None:
    """The send day (0 = Monday) of an ISO week like "2026-W50": a skipped week's date."""
    try:
        year, week = (int(part) for part in (iso_week or "").split("-W"))
        return date.fromisocalendar(year, week, weekday + 1)
    except ValueError:
        return None


@dataclass(frozen=True)
class ArchivePage:
    entries: list[ArchiveEntry]
    page: int
    has_prev: bool
    has_next: bool


def archive_page(page: int = 1, *, per_page: int = PER_PAGE) -> ArchivePage:
    """Sent editions and skipped weeks, newest (highest number) first; two queries whatever
    the page size."""
    page = max(page, 1)
    editions = list(
        db.session.scalars(
            sa.select(Edition)
            .where(Edition.status.in_(ARCHIVED))
            .order_by(Edition.number.desc())
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        )
    )
    has_next = len(editions) > per_page
    editions = editions[:per_page]
    counts = _item_counts([e.id for e in editions])
    entries = [ArchiveEntry(e, *counts.get(e.id, (0, 0))) for e in editions]
    return ArchivePage(entries, page, page > 1, has_next)


def archive_days(entries: list[ArchiveEntry], *, zone: str, weekday: int) -> dict[int, date]:
    """Each entry's day, by edition id: the day it was sent (in the organization's zone), or
    for a skipped week the send day of that week. No query."""
    tz = ZoneInfo(zone)
    days: dict[int, date | None] = {
        e.edition.id: (week_day(e.edition.iso_week, weekday) if e.skipped
                       else e.edition.sent_at.astimezone(tz).date() if e.edition.sent_at
                       else None)
        for e in entries
    }
    return {key: day for key, day in days.items() if day is not None}


def _item_counts(edition_ids: list[int]) -> dict[int, tuple[int, int]]:
    if not edition_ids:
        return {}
    rows = db.session.execute(
        sa.select(
            EditionItem.edition_id,
            sa.func.count(EditionItem.story_id),
            sa.func.count(EditionItem.quote_id),
        )
        .where(EditionItem.edition_id.in_(edition_ids))
        .group_by(EditionItem.edition_id)
    ).all()
    return {edition_id: (int(stories), int(quotes)) for edition_id, stories, quotes in rows}


def edition_by_number(number: int) -> Edition | None:
    return db.session.scalar(sa.select(Edition).where(Edition.number == number))


def neighbours(edition: Edition) -> tuple[Edition | None, Edition | None]:
    """The previous and next sent editions, for the page's "older / newer" links (a skipped
    week's page has them too)."""
    if edition.status not in ARCHIVED:
        return None, None
    sent = sa.select(Edition).where(Edition.status == EditionStatus.SENT)
    older = db.session.scalar(
        sent.where(Edition.number < edition.number).order_by(Edition.number.desc()).limit(1)
    )
    newer = db.session.scalar(
        sent.where(Edition.number > edition.number).order_by(Edition.number).limit(1)
    )
    return older, newer


@dataclass(frozen=True)
class Progress:
    status: EditionStatus
    total: int
    sent: int
    failed: int
    pending: int

    @property
    def done(self) -> bool:
        """Nothing left to watch: sent, and no delivery waiting (an admin's retry reopens it)."""
        return self.pending == 0 and self.status == EditionStatus.SENT

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.done else 0
        return int(100 * (self.sent + self.failed) / self.total)

    def as_json(self) -> dict[str, object]:
        return {
            "status": self.status.value,
            "total": self.total,
            "sent": self.sent,
            "failed": self.failed,
            "pending": self.pending,
            "percent": self.percent,
            "done": self.done,
        }


STALLED_AFTER = timedelta(minutes=5)


def is_starting(edition: Edition, now: datetime | None = None) -> bool:
    """Handed to the sender and due ("send now", or its time has come), not yet taken: the
    scheduler's next run starts sending it. Pages treat it as sending: no more "send now"."""
    return (
        edition.status == EditionStatus.SCHEDULED
        and edition.scheduled_at is not None
        and edition.scheduled_at <= (now or utcnow())
    )


def is_stalled(edition: Edition, now: datetime | None = None) -> bool:
    """Starting for minutes: the scheduler should have taken it by now (is it running?)."""
    return is_starting(edition, now) and (
        (now or utcnow()) - edition.scheduled_at >= STALLED_AFTER  # type: ignore[operator]
    )


def progress(edition: Edition) -> Progress:
    """Live figures from the delivery rows (one grouped COUNT on an indexed column pair)."""
    rows = db.session.execute(
        sa.select(Delivery.status, sa.func.count())
        .where(Delivery.edition_id == edition.id)
        .group_by(Delivery.status)
    ).all()
    counts = {DeliveryStatus(status): int(n) for status, n in rows}
    if not counts and edition.status == EditionStatus.SENT:
        # Sent before delivery rows existed (imported history, demo data): its own figures.
        return Progress(edition.status, edition.recipients_count, edition.sent_count,
                        edition.failed_count, 0)
    pending = counts.get(DeliveryStatus.PENDING, 0) + counts.get(DeliveryStatus.SENDING, 0)
    return Progress(
        status=edition.status,
        total=sum(counts.values()),
        sent=counts.get(DeliveryStatus.SENT, 0),
        failed=counts.get(DeliveryStatus.FAILED, 0),
        pending=pending,
    )


@dataclass(frozen=True)
class SendPause:
    """An edition waiting for the mail server after an outage stopped its sending."""

    number: int
    since: datetime
    reason: str
    retry_at: datetime | None
    alert: bool  # unavailable for NEWSLETTER_OUTAGE_ALERT_MINUTES or more: the banner shows


def send_pause(edition: Edition, now: datetime | None = None) -> SendPause | None:
    """The edition's pause, if its sending waits for the mail server (no query)."""
    since = edition.send_paused_at
    if since is None or edition.status not in (EditionStatus.SENDING, EditionStatus.SENT):
        return None
    alert_after = timedelta(minutes=current_app.config["NEWSLETTER_OUTAGE_ALERT_MINUTES"])
    return SendPause(
        number=edition.number,
        since=since,
        reason=edition.send_pause_reason or "the mail server did not answer",
        retry_at=edition.send_retry_at,
        alert=(now or utcnow()) - since >= alert_after,
    )


def send_outage_alerts(now: datetime | None = None) -> list[SendPause]:
    """Editions whose mail server has been unavailable past the alert delay (one query)."""
    editions = db.session.scalars(
        sa.select(Edition)
        .where(Edition.send_paused_at.is_not(None),
               Edition.status.in_((EditionStatus.SENDING, EditionStatus.SENT)))
        .order_by(Edition.number)
    )
    pauses = (send_pause(edition, now) for edition in editions)
    return [pause for pause in pauses if pause is not None and pause.alert]


@dataclass(frozen=True)
class SendEstimate:
    """When an edition's pending messages should be out, within the relay's limits (the one
    place the pages and the progress JSON get it from)."""

    pending: int
    now: datetime
    limits: Limits
    speed: float | None  # messages per second: the set rate, else the last minute's pace
    finish_at: datetime | None  # the last message goes out then (None: pace unknown)
    paused_until: datetime | None  # the cap is reached: sending resumes by itself then
    capped: bool  # the cap is reached now
    cap_binds: bool  # the cap makes the send wait before its end

    def sending_time(self) -> timedelta | None:
        return timedelta(seconds=self.pending / self.speed) if self.speed else None

    def paused_text(self, zone: str) -> str | None:
        if not self.capped:
            return None
        hours = self.limits.window_hours
        when = (f"{_when(self.paused_until, self.now, zone)} ({zone})"
                if self.paused_until else "within a minute")
        return (f"Paused: the relay’s limit of {self.limits.cap:,} messages per {hours} "
                f"hour{'s' if hours != 1 else ''} is reached; resumes by itself {when}.")

    def text(self, zone: str) -> str | None:
        """"About 2 h 10 min of sending; with the 10,000-a-day cap, the last messages go out
        tomorrow around 09:05 (Europe/Paris)." None when nothing can be said."""
        duration = self.sending_time()
        pace = f"About {_duration(duration)} of sending" if duration is not None else None
        if self.finish_at is None:
            return f"{pace}." if pace else None
        last = f"the last messages go out {_around(self.finish_at, self.now, zone)} ({zone})"
        if self.cap_binds:
            cap = f"with the {self.limits.cap_label()} cap, {last}."
            return f"{pace}; {cap}" if pace else cap[0].upper() + cap[1:]
        return f"{pace}: {last}." if pace else f"{last[0].upper()}{last[1:]}."

    def as_json(self, zone: str) -> dict[str, object]:
        return {
            "estimate": self.text(zone),
            "paused": self.paused_text(zone),
            "finish_at": self.finish_at.isoformat() if self.finish_at else None,
            "paused_until": self.paused_until.isoformat() if self.paused_until else None,
        }


def send_estimate(edition: Edition, pending: int, now: datetime | None = None
                  ) -> SendEstimate | None:
    """`pending` messages at the set rate (or the pace of the last minute), with the cap's
    pauses simulated message by message: the k-th next message waits for the message `cap`
    places before it to leave the window (the sender's own rule, app.newsletter.pacing).
    A few queries; the in-window send times are read only when the cap will bind."""
    if pending <= 0:
        return None
    now = now or utcnow()
    limits = current_limits()
    speed = limits.rate or _recent_pace(edition.id, now)
    if not limits.cap:
        finish = now + timedelta(seconds=pending / speed) if speed else None
        return SendEstimate(pending, now, limits, speed, finish, None, False, False)
    used = used_in_window(db.session, limits, now)
    capped = used >= limits.cap
    paused_until = frees_at(db.session, limits, now, used) if capped else None
    if used + pending <= limits.cap:
        finish = now + timedelta(seconds=pending / speed) if speed else None
        return SendEstimate(pending, now, limits, speed, finish, None, False, False)
    sent = sent_in_window(db.session, limits, now, min(used, used + pending - limits.cap))
    # Offsets from now in seconds; claimed rows not yet recorded count as sent now.
    times = [(t - now).total_seconds() for t in sent] + [0.0] * (used - len(sent))
    window = limits.window.total_seconds()
    step = 1 / speed if speed else 0.0
    future: list[float] = []
    at = 0.0
    for k in range(pending):
        if k:
            at += step
        j = used + k - limits.cap
        if j >= 0:
            at = max(at, (times[j] if j < used else future[j - used]) + window)
        future.append(at)
    return SendEstimate(pending, now, limits, speed, now + timedelta(seconds=future[-1] + step),
                        paused_until, capped, True)


PACE_SECONDS = 60


def _recent_pace(edition_id: int, now: datetime) -> float | None:
    """Messages per second this edition went out at over the last minute (no rate set)."""
    count = db.session.scalar(
        sa.select(sa.func.count()).select_from(Delivery)
        .where(Delivery.edition_id == edition_id,
               Delivery.sent_at > now - timedelta(seconds=PACE_SECONDS))
    ) or 0
    return count / PACE_SECONDS if count else None


def _duration(value: timedelta) -> str:
    minutes = round(value.total_seconds() / 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{round(hours / 24)} days"


def _day_and_clock(at: datetime, now: datetime, zone: str) -> tuple[str, str]:
    """("", "15:05") today, ("tomorrow", …), ("on Tuesday", …), ("on 14 Dec", …), and
    ("on 2 Sep 2029", …) when it is not this year, in the zone."""
    tz = ZoneInfo(zone)
    local = at.astimezone(tz)
    today = now.astimezone(tz).date()
    days = (local.date() - today).days
    year = f" {local.year}" if local.year != today.year else ""
    day = ("" if days <= 0 else "tomorrow" if days == 1
           else f"on {local:%A}" if days < 7 else f"on {local.day} {local:%b}{year}")
    return day, f"{local:%H:%M}"


def _when(at: datetime, now: datetime, zone: str) -> str:
    day, clock = _day_and_clock(at, now, zone)
    return f"{day} at {clock}" if day else f"at {clock}"


def _around(at: datetime, now: datetime, zone: str) -> str:
    day, clock = _day_and_clock(at, now, zone)
    return f"{day} around {clock}" if day else f"around {clock}"


def recipient_report(edition_id: int) -> dict[str, object] | None:
    """What building the recipient list found (invalid addresses skipped, duplicates)."""
    event = db.session.scalar(
        sa.select(AuditEvent)
        .where(AuditEvent.action == "edition.recipients", AuditEvent.object_type == "edition",
               AuditEvent.object_id == edition_id)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    return dict(event.details or {}) if event is not None else None


def failed_deliveries(edition_id: int, *, limit: int = FAILED_LIST_LIMIT) -> list[Delivery]:
    return list(
        db.session.scalars(
            sa.select(Delivery)
            .where(Delivery.edition_id == edition_id, Delivery.status == DeliveryStatus.FAILED)
            .order_by(Delivery.email)
            .limit(limit)
        )
    )


def feed_editions(limit: int = FEED_SIZE) -> list[Edition]:
    return list(
        db.session.scalars(
            sa.select(Edition)
            .where(Edition.status == EditionStatus.SENT)
            .order_by(Edition.sent_at.desc(), Edition.number.desc())
            .limit(limit)
        )
    )

