"""Sending within the mail relay's limits: a rate every sender shares, and a sliding-window cap.

Relays limit senders: Microsoft 365 and Google Workspace cap messages per minute and per day for
a mailbox, SES, SendGrid or Mailgun a rate per second. Admins set `send_rate_per_second`
(0: as fast as the server answers) and `send_cap_messages` per `send_cap_window_hours`
(0: no cap). Both hold across processes because they are decided in the database, never in
one sender's memory:

* Rate: a token bucket in one `send_pacing` row. Before a slice of k messages a sender books
  the slot `[max(next_at, now), + k / rate)` and waits until it starts. Slices last about
  SLICE_SECONDS, so in any second at most one slice per sender more than the rate goes out.
* Cap: counted from delivery rows: those sent within the window (all editions) plus those
  claimed and not yet recorded, so two senders cannot both take the last free places. Only live
  claims count (claimed within the lease, NEWSLETTER_CLAIM_TIMEOUT_SECONDS): a row a crashed
  sender left in `sending` is released and sent again, it must not hold a place for ever.
* Notification emails (confirmations, "you were featured", sign-in links) are neither paced nor
  counted: they go through the mail outbox (app.mail.outbox), which has no delivery rows and
  must not wait hours behind a newsletter at the cap. They use the same relay, so leave
  headroom for them: set the cap a little below the relay's own limit (say 5 %).

Both happen in one short transaction (`take_turn`) whose first statement locks the relay's row
(PostgreSQL: a row lock; SQLite: the write lock), so senders take turns: count, claim, book.
With no limit set none of this runs: the unpaced path makes no extra query.
When the cap is reached the pass stops with `Turn.full_until`; nothing is marked on the
edition: the deliver job keeps ticking and sends again once the oldest message of the window
has aged out, and the pages compute the same moment from the same rows (`frees_at`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from app.models import Delivery
from app.models import DeliveryStatus
from app.models import SendPacing
from app.models import utcnow
from app.settings import get_settings

RELAY = "smtp"  # one relay, one row: every edition and every sender shares it
SLICE_SECONDS = 0.25  # a slice's length at the set rate: the burst above the rate
WAIT_STEP = 0.1  # seconds between `should_stop` checks while waiting for a slot
MAX_AHEAD_SECONDS = 60  # a slot booked further ahead than this (and ten slices) is stale
RENEW_FRACTION = 4  # a sender waiting for its slot renews its claims every lease / 4
KEYS = ("send_rate_per_second", "send_cap_messages", "send_cap_window_hours")


@dataclass(frozen=True)
class Limits:
    rate: float  # messages per second; 0: no limit
    cap: int  # messages per window; 0: no cap
    window_hours: int

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.window_hours)

    @property
    def active(self) -> bool:
        return bool(self.rate) or bool(self.cap)

    def slice_size(self, batch: int) -> int:
        """Messages per booked slot: about SLICE_SECONDS of sending, at least one."""
        if not self.rate:
            return batch
        return max(1, min(batch, int(self.rate * SLICE_SECONDS)))

    def cap_label(self) -> str:
        """"10,000-a-day" / "100-per-1-hour": how the pages name the cap."""
        if self.window_hours == 24:
            return f"{self.cap:,}-a-day"
        unit = "hour" if self.window_hours == 1 else "hours"
        return f"{self.cap:,}-per-{self.window_hours}-{unit}"


def current_limits() -> Limits:
    """The relay limits as the admin set them (one query)."""
    values = get_settings(*KEYS)
    return Limits(
        rate=float(values["send_rate_per_second"] or 0),
        cap=int(values["send_cap_messages"] or 0),
        window_hours=int(values["send_cap_window_hours"] or 24),
    )


# -- the cap: counted from delivery rows ----------------------------------------------------------


def claim_lease() -> timedelta:
    """How long a claim is live (NEWSLETTER_CLAIM_TIMEOUT_SECONDS): older ones are released."""
    return timedelta(seconds=current_app.config["NEWSLETTER_CLAIM_TIMEOUT_SECONDS"])


def _used(since: datetime, live_since: datetime) -> sa.ScalarSelect:
    """Messages that count against the cap: sent after `since`, plus claimed after
    `live_since` and not yet recorded (an older claim is a dead sender's: it is released and
    sent again, counted then). One statement (one snapshot): a row moving from `sending` to
    `sent` between two counts would otherwise be counted twice or not at all."""
    table = Delivery.__table__
    sent = (sa.select(sa.func.count()).select_from(table)
            .where(table.c.sent_at > since).scalar_subquery())
    claimed = (sa.select(sa.func.count()).select_from(table)
               .where(table.c.status == DeliveryStatus.SENDING,
                      table.c.claimed_at >= live_since).scalar_subquery())
    return sa.select(sent + claimed).scalar_subquery()


def used_in_window(
    conn: Connection | Session, limits: Limits, now: datetime, lease: timedelta | None = None
) -> int:
    """Sent within the window plus live claims (`lease`: the configured one by default)."""
    lease = claim_lease() if lease is None else lease
    return int(conn.execute(sa.select(_used(now - limits.window, now - lease))).scalar() or 0)


def frees_at(
    conn: Connection | Session, limits: Limits, now: datetime, used: int
) -> datetime | None:
    """When the window next has room: the moment the message that keeps it full ages out
    (the oldest one when exactly full). None when live claims not yet recorded fill it: they
    are recorded or go stale within the lease, and the deliver job asks again every tick."""
    over = used - limits.cap  # this many must leave the window, plus one
    if over < 0:
        return now
    table = Delivery.__table__
    since = now - limits.window
    oldest = conn.execute(
        sa.select(table.c.sent_at).where(table.c.sent_at > since)
        .order_by(table.c.sent_at).offset(over).limit(1)
    ).scalar()
    return None if oldest is None else oldest + limits.window


def sent_in_window(
    conn: Connection | Session, limits: Limits, now: datetime, limit: int
) -> list[datetime]:
    """The oldest `limit` send times still in the window, oldest first (for the estimate)."""
    table = Delivery.__table__
    return list(conn.execute(
        sa.select(table.c.sent_at).where(table.c.sent_at > now - limits.window)
        .order_by(table.c.sent_at).limit(max(limit, 0))
    ).scalars())


# -- taking turns ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    rows: Sequence[Row]
    start_at: datetime | None = None  # the booked slot starts then (real clock); None: now
    full_until: datetime | None = None  # the cap is reached; the window has room then
    full: bool = False


def ensure_relay_row(conn: Connection) -> None:
    """The relay's row exists (created by the first sender ever; idempotent)."""
    table = SendPacing.__table__
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(table).values(name=RELAY, next_at=None).on_conflict_do_nothing())
    conn.commit()


def take_turn(
    conn: Connection,
    limits: Limits,
    now: datetime,
    size: int,
    claim: Callable[[int], Sequence[Row]],
    lease: timedelta,
) -> Turn:
    """Lock the relay's row, see what the cap allows, claim (`claim(n)`, without committing),
    book the rate slot for what was claimed, commit. `now` is the sending clock (tests fix
    it; it dates the window and the claims' lease); the rate slot always follows the real
    clock."""
    table = SendPacing.__table__
    # The first statement locks: PostgreSQL's row lock, SQLite's write lock (a deferred
    # transaction whose first statement writes waits for the lock; it holds no stale snapshot).
    next_at = conn.execute(
        sa.update(table).where(table.c.name == RELAY)
        .values(next_at=table.c.next_at).returning(table.c.next_at)
    ).scalar()
    if limits.cap:
        used = used_in_window(conn, limits, now, lease)
        size = min(size, limits.cap - used)
        if size <= 0:
            until = frees_at(conn, limits, now, used)
            conn.rollback()
            return Turn((), full_until=until, full=True)
    rows = claim(size)
    start = None
    if limits.rate and rows:
        real_now = utcnow()
        start = max(next_at or real_now, real_now)
        if start - real_now > _queue_limit(limits, len(rows), lease):
            start = real_now  # booked under an older, slower rate or before a clock change
        conn.execute(
            sa.update(table).where(table.c.name == RELAY)
            .values(next_at=start + timedelta(seconds=len(rows) / limits.rate))
        )
    conn.commit()
    return Turn(rows, start_at=start)


def _queue_limit(limits: Limits, size: int, lease: timedelta) -> timedelta:
    """How far ahead a booked slot may plausibly be: ten senders' slices queued, at least a
    minute. Anything further is stale, not a queue. Never half the lease or more: the sender
    holds its claimed rows while it waits, and a wait near the lease would let another
    sender take them for abandoned (the wait renews them too; this bounds it)."""
    queued = timedelta(seconds=max(MAX_AHEAD_SECONDS, 10 * size / limits.rate))
    return min(queued, lease * 0.45)


def wait_for_slot(
    start_at: datetime | None,
    should_stop: Callable[[], bool] | None,
    renew: Callable[[], bool] | None = None,
    renew_every: float = 0.0,
) -> bool:
    """Sleep until the booked slot starts; False if a graceful stop came first (checked every
    WAIT_STEP, so a stop never waits out a long slot) or if `renew` lost the claims.

    The wait is measured on the monotonic clock from one reading of the wall clock, so a wall
    clock set back meanwhile cannot lengthen it. Every `renew_every` seconds `renew()` renews
    the claimed rows' lease (a wait must never let another sender take them for abandoned);
    it returns False when none of them is still this sender's."""
    if start_at is None:
        return True
    started = time.monotonic()
    deadline = started + (start_at - utcnow()).total_seconds()
    renewing = renew is not None and renew_every > 0
    renew_at = started + renew_every if renewing else deadline
    while True:
        now = time.monotonic()
        if now >= deadline:
            return True
        if should_stop is not None and should_stop():
            return False
        if renewing and now >= renew_at:
            if not renew():  # type: ignore[misc]
                return False
            renew_at = now + renew_every
        time.sleep(max(0.0, min(deadline - now, renew_at - now, WAIT_STEP)))
