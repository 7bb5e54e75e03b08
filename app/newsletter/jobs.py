"""What the scheduler does on each tick, as plain functions of `now` (tests pass any clock).

Two jobs, both re-reading settings and rows every time:

* `deliver(now)`: continue editions that are sending (resume after a crash, retries that are
  due, an admin's "retry failed"; an edition paused by a mail server outage only once its
  `send_retry_at` has come), then send the open edition whose time has come. Late by at
  most `missed_run_grace_hours`: it still goes out, once. Later than that: the editors are
  emailed once and the week is given up (they can send it by hand; otherwise the edition takes
  the next weekly slot). Empty at send time: `empty_edition_policy` says skip the week or send
  the short "no stories this week" edition. An edition held by the mail relay's cap
  (app.newsletter.pacing) stays on the list: each tick costs it one count, and it goes on by
  itself once the oldest message of the window has aged out.
* `housekeeping(now)`: the editors' reminder before the send time, and the optional mid-week
  "share a story" nudge to all staff.

Every decision that must happen once (a missed run, a reminder, a nudge, an empty week) is an
AuditEvent keyed by the slot it is about, written in the same transaction as the domain event
(EditionMissed, EditionDueSoon) whose subscribers email the editors. When each edition is due
comes from app.newsletter.due, which the upcoming-edition pages share.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app import audit
from app.database import begin_write
from app.events import EditionDueSoon
from app.events import EditionMissed
from app.events import emit
from app.extensions import db
from app.mail import get_backend
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import Edition
from app.models import EditionStatus
from app.models import User
from app.models import utcnow
from app.newsletter import links
from app.newsletter import sending
from app.newsletter import tokens
from app.newsletter.compose import render_bulk
from app.newsletter.due import EMPTY_WEEK
from app.newsletter.due import MISSED
from app.newsletter.due import due_at_of
from app.newsletter.due import events
from app.newsletter.due import upcoming
from app.newsletter.mime import EditionMailer
from app.newsletter.mime import send_with
from app.newsletter.schedule import Due
from app.newsletter.schedule import WeeklySlot
from app.review.queries import waiting_count
from app.settings import get_settings
from app.web.urls import absolute_url

log = logging.getLogger(__name__)

E = EditionStatus
REMINDER = "newsletter.reminder"
NUDGE = "newsletter.nudge"
# A grace of 0 hours still tolerates the poll interval and a slow tick.
MIN_TOLERANCE = timedelta(minutes=5)


def tick(now: datetime | None = None, **kwargs) -> None:
    """Both jobs once (tests, and `flask scheduler tick`)."""
    now = now or utcnow()
    housekeeping(now)
    deliver(now, **kwargs)


# -- deliveries ------------------------------------------------------------------------------------


def deliver(
    now: datetime | None = None,
    *,
    worker_id: str | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[sending.RunResult]:
    """Continue what is being sent, then send what is due. `now` fixes the clock for tests;
    without it the senders read the real clock as they go (a long send outlives the tick)."""
    clock = now
    now = now or utcnow()
    worker_id = worker_id or sending.default_worker_id()
    results = [
        sending.run_edition(edition_id, now=clock, worker_id=worker_id, should_stop=should_stop)
        for edition_id in _editions_to_continue(now)
    ]
    grace = int(get_settings("missed_run_grace_hours")["missed_run_grace_hours"])
    tolerance = max(timedelta(hours=grace), MIN_TOLERANCE)
    for edition, due in upcoming(now):
        if due.at > now:
            continue
        if should_stop is not None and should_stop():
            break
        if not sending.may_send(edition):
            _give_up_empty_week(edition, due)
        elif now - due.at > tolerance:
            _report_missed(edition, due, now)
        elif sending.claim_edition(
            edition.id, now=now, worker_id=worker_id, from_draft=edition.status == E.DRAFT
        ):
            results.append(
                sending.run_edition(edition.id, now=clock, worker_id=worker_id,
                                    should_stop=should_stop)
            )
    db.session.commit()
    return results


def _editions_to_continue(now: datetime) -> list[int]:
    """Editions being sent (or resumed), and sent ones with due pending rows (retries); an
    edition paused by a mail server outage waits for its `send_retry_at`."""
    not_paused = sa.or_(Edition.send_retry_at.is_(None), Edition.send_retry_at <= now)
    sending_ids = db.session.scalars(
        sa.select(Edition.id).where(Edition.status == E.SENDING, not_paused)
    )
    retry_ids = db.session.scalars(
        sa.select(Delivery.edition_id)
        .join(Edition, Edition.id == Delivery.edition_id)
        .where(
            Edition.status == E.SENT,
            not_paused,
            Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.SENDING)),
            sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        )
        .distinct()
    )
    ids = sorted({*sending_ids, *retry_ids})
    db.session.commit()
    return ids


def _give_up_empty_week(edition: Edition, due: Due) -> None:
    """Nothing to send: leave the draft for next week (its number is not burnt)."""
    if _already(EMPTY_WEEK, edition.id, due.at):
        return
    audit.record(None, EMPTY_WEEK, edition, due_at=due.at.isoformat())
    db.session.commit()
    log.info("edition #%s is empty at its send time %s: week skipped", edition.number, due.at)


def _report_missed(edition: Edition, due: Due, now: datetime) -> None:
    """Too late to send on our own: give the week up once, and say so (the editors are told by
    a subscriber of EditionMissed)."""
    if _already(MISSED, edition.id, due.at):
        return
    audit.record(None, MISSED, edition, due_at=due.at.isoformat(), noticed_at=now.isoformat())
    emit(EditionMissed(edition_id=edition.id, number=edition.number,
                       due_at=due.at.isoformat(), noticed_at=now.isoformat()))
    db.session.commit()
    log.warning("edition #%s missed its send time %s; editors notified", edition.number, due.at)


# -- housekeeping ---------------------------------------------------------------------------------


def housekeeping(now: datetime | None = None) -> None:
    now = now or utcnow()
    send_reminders(now)
    send_nudge(now)
    db.session.commit()


def send_reminders(now: datetime) -> int:
    """Remind editors `reminder_hours_before` the send if items wait for review or the edition
    is empty (a subscriber of EditionDueSoon emails them). Returns the number of editions
    reminded about."""
    hours = int(get_settings("reminder_hours_before")["reminder_hours_before"])
    if hours <= 0:
        return 0
    reminded = 0
    for edition, due in upcoming(now):
        if not due.at - timedelta(hours=hours) <= now < due.at:
            continue
        waiting = waiting_count()
        items = len(edition.items)
        if (not waiting and items) or _already(REMINDER, edition.id, due.at):
            continue
        audit.record(None, REMINDER, edition, due_at=due.at.isoformat(), waiting=waiting,
                     items=items)
        emit(EditionDueSoon(edition_id=edition.id, number=edition.number,
                            due_at=due.at.isoformat(), waiting=waiting, items=items))
        db.session.commit()
        reminded += 1
    return reminded


def send_nudge(now: datetime) -> int:
    """The mid-week "share a story" email to everyone who receives the newsletter, at most once
    per week (recorded before sending: a crash loses a nudge rather than repeating it)."""
    values = get_settings(
        "nudge_enabled", "nudge_weekday", "nudge_time", "timezone", "missed_run_grace_hours"
    )
    if not values["nudge_enabled"]:
        return 0
    slot = WeeklySlot.from_settings(values["nudge_weekday"], values["nudge_time"],
                                    values["timezone"])
    at = slot.latest_at_or_before(now)
    grace = max(timedelta(hours=int(values["missed_run_grace_hours"])), MIN_TOLERANCE)
    if now - at > grace or _already(NUDGE, None, at):
        return 0
    audit.record(None, NUDGE, object_type="newsletter", due_at=at.isoformat())
    db.session.commit()
    return _send_nudge_emails(at)


def _send_nudge_emails(at: datetime) -> int:
    share_url = absolute_url("submissions.new_story")
    rendered = render_bulk(
        "newsletter_nudge", "Seen a colleague make a customer's day this week?",
        share_url=share_url,
    )
    sender = str(get_settings("sender")["sender"] or current_app.config["MAIL_DEFAULT_SENDER"])
    domain = sending._sender_domain(sender)
    mailer = EditionMailer(
        rendered, sender=sender, web_url=share_url,
        list_id=f"Feel Good Fridays <feel-good-fridays.{domain}>",
    )
    signer = tokens.signer()
    prefix = links.unsubscribe_url("-")[:-1]
    stamp = f"{at:%Y%m%d}.{secrets.token_hex(4)}"
    sent = 0
    last_id = 0
    with get_backend() as backend:
        while True:
            users = db.session.execute(
                sa.select(User.id, User.email, User.display_name)
                .where(User.is_active_user.is_(True), User.email_opt_out.is_(False),
                       User.id > last_id)
                .order_by(User.id)
                .limit(500)
            ).all()
            db.session.commit()
            if not users:
                break
            last_id = users[-1].id
            for user_id, address, name in users:
                try:
                    message = mailer.message(
                        email_address=address,
                        name=name,
                        first_name=(name.split() or [None])[0],
                        message_id=f"<fgf.nudge.{stamp}.u{user_id}@{domain}>",
                        unsubscribe_url=prefix
                        + tokens.make_unsubscribe_token(user_id=user_id, using=signer),
                    )
                except ValueError as exc:
                    log.warning("nudge to %s not sent: %s", address, exc)
                    continue
                if send_with(backend, message).ok:
                    sent += 1
    log.info("nudge sent to %d people", sent)
    return sent


# -- helpers ---------------------------------------------------------------------------------


def _already(action: str, object_id: int | None, due_at: datetime) -> bool:
    """Whether this once-per-slot decision was made. Every caller writes the decision next when
    it was not, so the check runs in a write transaction (SQLite waits for the lock here instead
    of failing on a stale snapshot at the write)."""
    begin_write()
    return any(due_at_of(e) == due_at for e in events((action,), [object_id]))
