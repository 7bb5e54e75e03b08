"""Reliable sending: claim the edition, one Delivery row per recipient, send through the rows.

The rows are the whole state, so any process can resume after any crash:

1. `claim_edition`: one atomic UPDATE ... WHERE status='scheduled' → 'sending'. A second
   scheduler (or machine) updates nothing and backs off.
2. `create_deliveries`: freezes the compiled edition on the row and inserts one `pending`
   Delivery per recipient, in one transaction (all or nothing; a resumed run sees them or not).
3. `send_pending`: claims batches (pending → sending, `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
   several processes share the work; SQLite serializes the claim itself) and sends them over one
   SMTP connection; each row's outcome is committed within milliseconds of the server's answer
   (`_Recorder`). Rows left in `sending` by a killed process are taken back after
   NEWSLETTER_CLAIM_TIMEOUT_SECONDS, so at most the messages of the batch in flight can go out
   twice, under the same Message-ID. A live sender renews its claims (a slow batch, a wait for
   its rate slot) and sends only the rows it still holds (`claimed_at` unchanged), so a row
   taken back meanwhile is sent by the taker alone.
   Attempts are charged only for a recipient's own outcome (the reply to its RCPT or DATA). When
   the mail server cannot be reached or refuses the session (`SendResult.session`: connect
   errors, timeouts, 421, a refused greeting, TLS or AUTH failure, a dropped connection), the
   pass stops, the claimed rows go back to pending untouched and the edition is paused
   (`pause_sending`: `send_paused_at`, reason, `send_retry_at` with a capped backoff); the
   scheduler skips it until then, and the first pass the server answers clears the pause. An
   outage therefore never fails a delivery.
   Within the mail relay's limits (app.newsletter.pacing): with a rate or a cap set, each
   claim is a turn taken on one shared row (cap counted from delivery rows, rate slot booked),
   so the limits hold across processes; a full cap ends the pass and the deliver job resumes
   once the window has room. With neither set, the claim is exactly as above.
4. `finish_edition`: once no row is pending, the edition becomes `sent` and its items
   `published`, and it emits `EditionSent` (with `SubmissionPublished` / `ColleagueFeatured`);
   after the commit, subscribers notify authors and colleagues and open the next draft.
   Every delivery is then settled by a recipient-level outcome.

`run_edition` chains these steps; the scheduler and `flask editions send N` both call it. These
functions commit: each step must be durable before the next starts (call them outside another
unit of work). `request_send_now`, `retry_failed` and `send_test` are ordinary services that
leave the commit to the caller.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from email.utils import make_msgid
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from app import audit
from app.database import begin_write
from app.engagement.recipients import RecipientKeys
from app.errors import IllegalTransition
from app.errors import NotFound
from app.errors import PermissionDenied
from app.errors import ValidationError
from app.events import ColleagueFeatured
from app.events import EditionScheduled
from app.events import EditionSent
from app.events import SubmissionPublished
from app.events import emit
from app.extensions import db
from app.mail import HeaderInjectionError
from app.mail import SendResult
from app.mail import SendStatus
from app.mail import get_backend
from app.models import AuditEvent
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import Edition
from app.models import EditionItem
from app.models import EditionStatus
from app.models import Quote
from app.models import Recognition
from app.models import Story
from app.models import SubmissionStatus
from app.models import User
from app.models import utcnow
from app.newsletter import links
from app.newsletter import pacing
from app.newsletter import tokens
from app.newsletter.compose import RenderedEdition
from app.newsletter.compose import freeze_edition
from app.newsletter.compose import render_as_it_will_go_out
from app.newsletter.compose import render_edition
from app.newsletter.mime import EditionMailer
from app.newsletter.mime import send_with
from app.newsletter.recipients import Recipient
from app.newsletter.recipients import RecipientReport
from app.newsletter.recipients import iter_recipients
from app.newsletter.schedule import iso_week
from app.settings import get_setting
from app.signals import mail_answered
from app.workflow import edition_sources
from app.workflow import transition_edition
from app.workflow import transition_submission

log = logging.getLogger(__name__)

INSERT_CHUNK = 1000
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
E = EditionStatus



def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# -- the editor's "send now" -------------------------------------------------------------------


def may_send(edition: Edition) -> bool:
    """The empty-edition policy, the one place it is decided: an edition with items may go
    out; an empty one only when the admin chose to send a placeholder ("send_placeholder")
    rather than skip the week. The editors' "send now", `flask editions send` and the
    scheduler all ask this."""
    return bool(edition.items) or get_setting("empty_edition_policy") == "send_placeholder"


def request_send_now(
    edition: Edition, actor: User | None, *, now: datetime | None = None
) -> Edition:
    """Hand the edition to the sender: scheduled, due now. The scheduler (or the CLI) sends it;
    a web request never sends thousands of emails itself. `actor=None` is the CLI/system."""
    now = now or utcnow()
    if edition.status in (E.DRAFT, E.SCHEDULED) and not may_send(edition):
        raise ValidationError(f"Edition #{edition.number} is empty; add a story or a quote first.")
    if edition.status == E.DRAFT:
        if actor is None:
            if not _promote_draft(edition.id, via="cli"):
                raise IllegalTransition(f"Edition #{edition.number} changed; try again.")
            db.session.refresh(edition)
        else:
            transition_edition(edition, E.SCHEDULED, actor=actor, now=now)
            emit(EditionScheduled(edition_id=edition.id, number=edition.number,
                                  actor_id=actor.id))
    elif edition.status != E.SCHEDULED:
        raise IllegalTransition(
            f"Edition #{edition.number} is {edition.status.label.lower()}; it cannot be sent now."
        )
    edition.scheduled_at = now
    audit.record(actor, "edition.send_now", edition, at=now.isoformat())
    db.session.flush()
    return edition


def _promote_draft(edition_id: int, **details: Any) -> bool:
    """draft → scheduled without an editor (the weekly send of a draft with items, the CLI).

    The workflow's schedule rule wants a curator; the scheduler is the system acting on the
    schedule the editors set, so it is the same atomic UPDATE ... WHERE as a claim, audited.
    """
    table = Edition.__table__
    result = db.session.execute(
        sa.update(table)
        .where(table.c.id == edition_id, table.c.status.in_(edition_sources(E.SCHEDULED)))
        .values(status=E.SCHEDULED, version=table.c.version + 1, updated_at=utcnow())
    )
    if result.rowcount != 1:
        return False
    audit.record(
        None, "edition.schedule", object_type="edition", object_id=edition_id,
        **{"from": E.DRAFT.value, "to": E.SCHEDULED.value, "automatic": True}, **details,
    )  # fmt: skip
    number = db.session.scalar(sa.select(table.c.number).where(table.c.id == edition_id))
    emit(EditionScheduled(edition_id=edition_id, number=int(number or 0), actor_id=None,
                          automatic=True))
    return True


# -- 1. claim ------------------------------------------------------------------------------------


def claim_edition(
    edition_id: int,
    *,
    now: datetime | None = None,
    worker_id: str | None = None,
    from_draft: bool = False,
) -> bool:
    """Atomically take the edition for sending (scheduled → sending); False if someone else did
    or it is no longer scheduled. `from_draft` first promotes a draft in the same transaction."""
    now = now or utcnow()
    worker_id = worker_id or default_worker_id()
    table = Edition.__table__
    db.session.commit()
    try:
        begin_write()  # SQLite: wait for the write lock here, not fail on a stale snapshot
        if from_draft:
            _promote_draft(edition_id, worker=worker_id)
        result = db.session.execute(
            sa.update(table)
            .where(table.c.id == edition_id, table.c.status.in_(edition_sources(E.SENDING)))
            .values(
                status=E.SENDING,
                sending_started_at=now,
                version=table.c.version + 1,  # editors holding the old version get a Conflict
                updated_at=now,
            )
        )
        if result.rowcount != 1:
            db.session.rollback()
            return False
        week = iso_week(now.astimezone(_zone()).date())  # the week this edition uses up
        db.session.execute(sa.update(table).where(table.c.id == edition_id).values(iso_week=week))
        audit.record(
            None, "edition.start_sending", object_type="edition", object_id=edition_id,
            **{"from": E.SCHEDULED.value, "to": E.SENDING.value}, worker=worker_id,
        )  # fmt: skip
        db.session.commit()
    except sa.exc.OperationalError:
        # SQLite's busy timeout ran out: the database is overloaded, nobody has the edition.
        db.session.rollback()
        log.warning("edition %s: database busy, not claimed; the next tick tries again",
                    edition_id)
        return False
    log.info("edition %s claimed by %s", edition_id, worker_id)
    return True


# -- 2. recipients -------------------------------------------------------------------------------


def create_deliveries(edition: Edition, *, now: datetime | None = None) -> RecipientReport | None:
    """Freeze the edition and insert one pending Delivery per recipient, in one transaction.

    Returns None when the rows already exist (a resumed or second sender). The first statement
    locks the edition row (PostgreSQL) / takes the write lock (SQLite), so two processes never
    build the list twice.
    """
    now = now or utcnow()
    edition_id = edition.id
    db.session.commit()
    _lock_edition(edition_id)
    edition = _get_edition(edition_id, populate=True)
    if edition.status != E.SENDING or _has_deliveries(edition_id):
        db.session.rollback()
        return None
    freeze_edition(edition, now=now)
    report = RecipientReport()
    ids = _message_id_factory(edition)
    chunk: list[dict[str, Any]] = []
    for recipient in iter_recipients(report):
        chunk.append(_delivery_row(edition_id, recipient, ids, now))
        if len(chunk) >= INSERT_CHUNK:
            db.session.execute(sa.insert(Delivery), chunk)
            chunk = []
    if chunk:
        db.session.execute(sa.insert(Delivery), chunk)
    edition.recipients_count = report.count
    audit.record(None, "edition.recipients", edition, **report.as_details())
    db.session.commit()
    if report.invalid_count:
        log.warning(
            "edition #%s: %d invalid address(es) skipped: %s",
            edition.number, report.invalid_count, ", ".join(report.invalid),
        )  # fmt: skip
    log.info("edition #%s: %d recipients", edition.number, report.count)
    return report


def _message_id_factory(edition: Edition) -> Callable[[Recipient], str]:
    """Stable Message-IDs per delivery: stored on the row, reused by every retry and resume, so
    a message sent twice (crash mid-batch) is recognisably the same message."""
    nonce = secrets.token_hex(4)
    domain = _sender_domain()

    def message_id(recipient: Recipient) -> str:
        key = (
            f"u{recipient.user_id}"
            if recipient.user_id is not None
            else "x" + hashlib.sha256(recipient.email.encode()).hexdigest()[:16]
        )
        return f"<fgf.{edition.number}.{nonce}.{key}@{domain}>"

    return message_id


def _delivery_row(
    edition_id: int, recipient: Recipient, ids: Callable[[Recipient], str], now: datetime
) -> dict[str, Any]:
    return {
        "edition_id": edition_id,
        "email": recipient.email,
        "user_id": recipient.user_id,
        "recipient_name": (recipient.name or None) and recipient.name[:120],
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "message_id": ids(recipient),
        "created_at": now,
    }


# -- 3. sending ----------------------------------------------------------------------------------


@dataclass
class SendStats:
    sent: int = 0
    failed: int = 0
    deferred: int = 0  # transient failure, retried later with backoff
    batches: int = 0
    stopped: str | None = None  # why a pass ended early (mail server unreachable, shutdown)
    capped: bool = False  # stopped by the relay's cap (app.newsletter.pacing)
    capped_until: datetime | None = None  # the cap's window has room again then
    outage: SendResult | None = None  # the session failure that stopped the pass, if any
    answered: int = 0  # messages the server gave a verdict on (it was reachable)

    @property
    def processed(self) -> int:
        return self.sent + self.failed + self.deferred


Progress = Callable[[int], None]

_CLAIM_COLUMNS = (
    Delivery.id,
    Delivery.email,
    Delivery.user_id,
    Delivery.recipient_name,
    Delivery.message_id,
    Delivery.attempts,
)


def send_pending(
    edition_id: int,
    *,
    batch_size: int | None = None,
    worker_id: str | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SendStats:
    """Send every due pending delivery of the edition; safe to run in several processes.

    `now` fixes the clock (tests): it decides which retries are due and stamps the rows.
    `should_stop` is checked between batches and while waiting for a rate slot (a graceful
    scheduler shutdown); what is left stays pending for the next run.
    With relay limits set (app.newsletter.pacing) batches are slices booked on the shared
    rate, claimed within the cap; a full cap ends the pass (`SendStats.capped`).
    """
    stats = SendStats()
    edition = _get_edition(edition_id)
    if not edition.content_html:
        return stats  # nothing frozen means no deliveries yet
    limits = pacing.current_limits()
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    lease = current_app.config["NEWSLETTER_CLAIM_TIMEOUT_SECONDS"]
    released = None
    if limits.cap:
        # A dead sender's claims go back first: they must not hold places in the window.
        db.session.commit()
        released = _release_stale(db.session, edition_id, clock(), lease)
        if _cap_full(limits, clock(), lease, stats):
            db.session.commit()
            _log_released(edition_id, released)
            log.debug("edition %s: the relay's cap is reached until %s", edition_id,
                      stats.capped_until)
            return stats  # before rendering or connecting: the deliver job asks every tick
    mailer = mailer_for(edition, render_edition(edition))
    number = edition.number
    paused_since = edition.send_paused_at
    keys = RecipientKeys(edition_id)  # reads settings: before the commit below
    db.session.commit()  # the loop below has its own connection; hold no session transaction
    size = limits.slice_size(batch_size or current_app.config["NEWSLETTER_BATCH_SIZE"])
    recorder = _Recorder(db.engine)
    sender = _BatchSender(mailer, keys, recorder, clock, lease, progress, stats)
    with db.engine.connect() as conn, recorder, get_backend() as backend:
        if released is None:
            released = _release_stale(conn, edition_id, clock(), lease)
        _log_released(edition_id, released)
        if limits.active:
            pacing.ensure_relay_row(conn)
        while stats.stopped is None:
            if should_stop is not None and should_stop():
                stats.stopped = "shutting down"
                break
            if not limits.active:  # the unpaced path: no query besides the claim
                at = clock()
                held: _Held | None = _Held(_claim_batch(conn, edition_id, at, size), at)
            else:
                held = _paced_claim(conn, edition_id, limits, clock, size, lease, stats,
                                    should_stop)
            if held is None or not held.rows:
                if held is not None and held.lost:
                    continue  # another sender took the whole slice: claim again
                break
            stats.batches += 1
            sender.send_batch(conn, backend, held)
    if stats.outage is not None:
        pause_sending(edition_id, stats.outage, now=clock(), fresh=stats.answered > 0)
    elif stats.answered:
        _resume_sending(edition_id, number, paused_since)
    log.info(
        "edition #%s, %s: %d sent, %d failed, %d deferred%s",
        number, worker_id or default_worker_id(), stats.sent, stats.failed, stats.deferred,
        f" (stopped: {stats.stopped})" if stats.stopped else "",
    )  # fmt: skip
    return stats


def _log_released(edition_id: int, released: int | None) -> None:
    if released:
        log.warning("edition %s: %d stale claim(s) released for resending", edition_id,
                    released)


def _cap_full(limits: pacing.Limits, now: datetime, lease: int, stats: SendStats) -> bool:
    """Whether the cap's window is full (a plain count: the exact check is `take_turn`'s)."""
    used = pacing.used_in_window(db.session, limits, now, timedelta(seconds=lease))
    if used < limits.cap:
        return False
    _stop_at_cap(limits, stats, pacing.frees_at(db.session, limits, now, used))
    return True


def _stop_at_cap(limits: pacing.Limits, stats: SendStats, until: datetime | None) -> None:
    stats.capped, stats.capped_until = True, until
    stats.stopped = (f"the relay's limit of {limits.cap:,} messages per {limits.window_hours} "
                     f"h is reached; sending resumes by itself"
                     + (f" at {until:%Y-%m-%d %H:%M} UTC" if until else ""))


@dataclass
class _Held:
    """Rows this sender claimed, and the `claimed_at` they carry while they are still its own
    (every renewal of the lease checks it: a row another sender took is dropped, not sent)."""

    rows: list[Row]
    at: datetime
    renewed: float = field(default_factory=time.monotonic)  # claimed or last renewed
    lost: int = 0  # rows another sender took meanwhile (not sent by this one)


def _paced_claim(
    conn: Connection,
    edition_id: int,
    limits: pacing.Limits,
    clock: Callable[[], datetime],
    size: int,
    lease: int,
    stats: SendStats,
    should_stop: Callable[[], bool] | None,
) -> _Held | None:
    """Claim within the cap and book the rate slot (one locked turn), then wait for the slot,
    renewing the claims' lease every lease / 4 meanwhile. A stop while waiting puts the slice
    back; a full cap ends the pass (None)."""
    now = clock()
    turn = pacing.take_turn(
        conn, limits, now, size,
        lambda n: _claim_batch(conn, edition_id, now, n, commit=False),
        timedelta(seconds=lease),
    )
    if turn.full:
        _stop_at_cap(limits, stats, turn.full_until)
        log.info("edition %s: %s", edition_id, stats.stopped)
        return None
    if not turn.rows:
        return None
    held = _Held(list(turn.rows), now)
    if not pacing.wait_for_slot(turn.start_at, should_stop,
                                lambda: _touch_claims(conn, held, clock()) > 0,
                                lease / pacing.RENEW_FRACTION):
        if not held.rows:
            return held  # all taken by another sender (`lost`): nothing to put back
        _release(conn, [r.id for r in held.rows], held.at)
        stats.stopped = "shutting down"
        return None
    return held


class _BatchSender:
    """Sends claimed rows; each outcome goes to the `_Recorder`, which commits it at once."""

    def __init__(
        self,
        mailer: EditionMailer,
        keys: RecipientKeys,
        recorder: _Recorder,
        clock: Callable[[], datetime],
        lease: int,
        progress: Progress | None,
        stats: SendStats,
    ) -> None:
        self.mailer = mailer
        self.keys = keys
        self.recorder = recorder
        self.clock = clock
        self.lease = lease
        self.progress = progress
        self.stats = stats
        self.signer = tokens.signer()
        self.unsubscribe_prefix = links.unsubscribe_url("-")[:-1]
        self.max_attempts = current_app.config["NEWSLETTER_MAX_ATTEMPTS"]
        self.retry_base = current_app.config["NEWSLETTER_RETRY_BASE_SECONDS"]
        self.retry_max = current_app.config["NEWSLETTER_RETRY_MAX_SECONDS"]

    def send_batch(self, conn: Connection, backend: Any, held: _Held) -> None:
        index = 0
        while index < len(held.rows):
            if time.monotonic() - held.renewed > self.lease / 2:
                # A slow batch: renew the lease; rows another sender took are dropped.
                _touch_claims(conn, held, self.clock(), index)
                if index >= len(held.rows):
                    break
            row = held.rows[index]
            self.recorder.check()  # never send what could not be recorded
            result = self._send_one(backend, row)
            mail_answered.send("edition", result=result)
            if result.session:
                # The server failed, not this recipient: nobody is charged an attempt. This row
                # and the rest of the batch go back to pending as they were; the pass stops.
                self.recorder.flush()
                _release(conn, [r.id for r in held.rows[index:]], held.at)
                self.stats.outage = result
                self.stats.stopped = result.error or "mail server unavailable"
                return
            self.recorder.put(self._outcome(row, result))
            if self.progress is not None:
                self.progress(1)
            index += 1
        self.recorder.flush()  # the batch is fully recorded before the next claim

    def _send_one(self, backend: Any, row: Row) -> SendResult:
        token = tokens.make_unsubscribe_token(user_id=row.user_id, email=row.email,
                                              using=self.signer)
        names = (row.recipient_name or "").split()
        try:
            message = self.mailer.message(
                email_address=row.email,
                name=row.recipient_name,
                first_name=names[0] if names else None,
                message_id=row.message_id,
                unsubscribe_url=self.unsubscribe_prefix + token,
                track=self.keys.track(row.id, row.user_id),
                applause=self.keys.applause(row.user_id),
            )
        except (HeaderInjectionError, ValueError, UnicodeError) as exc:
            return SendResult(SendStatus.PERMANENT, None, f"cannot build the message: {exc}")
        result = send_with(backend, message)
        if not result.session:
            self.stats.answered += 1
        return result

    def _outcome(self, row: Row, result: SendResult) -> dict[str, Any]:
        at = self.clock()
        attempts = row.attempts + 1
        status, error, next_at = DeliveryStatus.SENT, None, None
        if result.ok:
            self.stats.sent += 1
        elif result.status is SendStatus.PERMANENT or attempts >= self.max_attempts:
            status, error = DeliveryStatus.FAILED, _error(result)
            self.stats.failed += 1
            log.warning("delivery %s failed: %s", row.id, error)  # no address: personal data
        else:
            delay = min(self.retry_base * 2 ** (attempts - 1), self.retry_max)
            status, error = DeliveryStatus.PENDING, _error(result)
            next_at = at + timedelta(seconds=delay)
            self.stats.deferred += 1
        return {
            "b_id": row.id, "b_status": status, "b_attempts": attempts, "b_error": error,
            "b_next": next_at, "b_sent_at": at if result.ok else None,
        }  # fmt: skip


class _Recorder:
    """Commits delivery outcomes from a thread of its own, on its own connection.

    The sender appends each outcome the moment the SMTP server answers and goes on with the
    next message; the recorder commits whatever has arrived every few milliseconds (RECORD_EVERY),
    so commits overlap the wait for the server instead of adding to it and cost one transaction
    per handful of messages rather than one each. At most those few milliseconds of outcomes are
    lost if the process is killed: the messages concerned are in the batch in flight and are
    sent again under the same Message-ID. `flush` (end of a batch) waits until everything is
    committed; if recording fails, `check` raises in the sender before it sends anything else.
    """

    RECORD_EVERY = 0.005  # seconds

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.error: BaseException | None = None
        # An in-memory SQLite database exists on one connection only: record inline there.
        self.inline = engine.dialect.name == "sqlite" and engine.url.database in (None, "",
                                                                                  ":memory:")
        self._items: deque[dict[str, Any]] = deque()  # append/popleft are thread-safe
        self._submitted = 0  # touched by the sender thread only
        self._done = 0  # outcomes written (or dropped after an error); under _cond
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._inline_conn: Connection | None = None

    def __enter__(self) -> _Recorder:
        if self.inline:
            self._inline_conn = self.engine.connect()
        else:
            self._thread = threading.Thread(target=self._run, name="delivery-recorder",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            self._thread.join()
        if self._inline_conn is not None:
            self._inline_conn.close()
        if self.error is not None and exc[0] is None:
            raise RuntimeError("recording delivery outcomes failed") from self.error

    def put(self, outcome: dict[str, Any]) -> None:
        if self._inline_conn is not None:
            self._write(self._inline_conn, [outcome])
        else:
            self._items.append(outcome)
            self._submitted += 1

    def flush(self) -> None:
        if self._thread is not None:
            submitted = self._submitted
            with self._cond:
                self._cond.notify_all()  # do not wait for the next tick
                self._cond.wait_for(lambda: self._done >= submitted or not self._alive())
        self.check()

    def check(self) -> None:
        if self.error is not None:
            raise RuntimeError("recording delivery outcomes failed") from self.error
        if self._thread is not None and not self._alive():
            raise RuntimeError("the delivery recorder stopped")

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        try:
            with self.engine.connect() as conn:
                self._record_until_stopped(conn)
        except BaseException as exc:  # noqa: BLE001 - the sender thread raises it (`check`)
            log.exception("the delivery recorder stopped")
            self.error = self.error or exc
        finally:
            with self._cond:
                self._cond.notify_all()

    def _record_until_stopped(self, conn: Connection) -> None:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            # One round trip per write: each UPDATE is its own transaction (autocommit; the
            # isolation level is restored when the connection goes back to the pool). And it
            # need not wait for the WAL flush: a database server crash could lose the last
            # fraction of a second of outcomes, which only means those messages are sent
            # again (same Message-ID), never that anyone is skipped.
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("SET synchronous_commit TO off")
        try:
            while True:
                with self._cond:
                    if not self._stopping:
                        self._cond.wait(timeout=self.RECORD_EVERY)
                    stopping = self._stopping
                outcomes = []
                while self._items:
                    outcomes.append(self._items.popleft())
                if outcomes and self.error is None:
                    try:
                        self._write(conn, outcomes)
                    except Exception as exc:  # noqa: BLE001 - handed to the sender thread
                        log.exception("recording %d delivery outcome(s) failed", len(outcomes))
                        self.error = exc
                        conn.rollback()
                with self._cond:
                    self._done += len(outcomes)
                    self._cond.notify_all()
                if stopping and not self._items:
                    return
        finally:
            if postgres:
                try:
                    conn.exec_driver_sql("RESET synchronous_commit")
                except Exception:  # noqa: BLE001 - never pool a connection left async
                    conn.invalidate()

    @staticmethod
    def _write(conn: Connection, outcomes: list[dict[str, Any]]) -> None:
        conn.execute(_RECORD, outcomes)
        conn.commit()


# Built once: per message, only the parameters change (statement construction and cache-key
# generation would cost more than the UPDATE itself).
_deliveries = Delivery.__table__
_RECORD = (
    sa.update(_deliveries)
    .where(_deliveries.c.id == sa.bindparam("b_id"))
    .values(
        status=sa.bindparam("b_status"),
        attempts=sa.bindparam("b_attempts"),
        last_error=sa.bindparam("b_error"),
        next_attempt_at=sa.bindparam("b_next"),
        sent_at=sa.bindparam("b_sent_at"),
        claimed_at=None,
    )
)


def _error(result: SendResult) -> str:
    text = result.error or result.status.value
    return text if result.code is None or str(result.code) in text else f"{result.code} {text}"


def _claim_batch(
    conn: Connection, edition_id: int, now: datetime, size: int, *, commit: bool = True
) -> list[Row]:
    """pending → sending for up to `size` due rows, returned to this worker only (`commit`
    False: inside the caller's transaction, as pacing's locked turn).

    The ids are picked once, in a MATERIALIZED CTE joined by `UPDATE ... FROM`: with the
    usual `WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` PostgreSQL may re-run the
    limited subquery for each candidate row and claim every pending delivery in one call.
    A materialized CTE is evaluated exactly once. SQLite has no row locks (the statement holds
    the write lock) and takes the same form.
    """
    table = Delivery.__table__
    due = (
        sa.select(table.c.id)
        .where(
            table.c.edition_id == edition_id,
            table.c.status == DeliveryStatus.PENDING,
            sa.or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now),
        )
        .order_by(table.c.id)
        .limit(size)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    picked = due.cte("picked").prefix_with("MATERIALIZED", dialect="postgresql")
    rows = conn.execute(
        sa.update(table)
        .where(table.c.id == picked.c.id, table.c.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.SENDING, claimed_at=now)
        .returning(*(table.c[c.key] for c in _CLAIM_COLUMNS))
    ).all()
    if commit:
        conn.commit()
    return sorted(rows, key=lambda r: r.id)


def _release_stale(
    conn: Connection | Session, edition_id: int, now: datetime, lease: int
) -> int:
    """Rows a dead process claimed go back to pending: these are the ones that may repeat."""
    table = Delivery.__table__
    result = conn.execute(
        sa.update(table)
        .where(
            table.c.edition_id == edition_id,
            table.c.status == DeliveryStatus.SENDING,
            table.c.claimed_at < now - timedelta(seconds=lease),
        )
        .values(status=DeliveryStatus.PENDING, claimed_at=None)
    )
    conn.commit()
    return result.rowcount


def _release(conn: Connection, ids: list[int], held_at: datetime) -> None:
    """Put back rows this sender still holds (claimed at `held_at`), untouched."""
    if not ids:
        return
    table = Delivery.__table__
    conn.execute(
        sa.update(table)
        .where(table.c.id.in_(ids), table.c.status == DeliveryStatus.SENDING,
               table.c.claimed_at == held_at)
        .values(status=DeliveryStatus.PENDING, claimed_at=None)
    )
    conn.commit()


def _touch_claims(conn: Connection, held: _Held, now: datetime, start: int = 0) -> int:
    """Renew the lease of the held rows from `start` on (a slow batch, a long wait for the rate
    slot) so no other worker mistakes them for abandoned. Only rows still claimed at
    `held.at` are this sender's: one released as stale meanwhile (and perhaps claimed and sent
    by another sender) is dropped from `held`, never sent twice. Returns the rows kept."""
    table = Delivery.__table__
    rest = held.rows[start:]
    kept = set(conn.execute(
        sa.update(table)
        .where(table.c.id.in_([r.id for r in rest]), table.c.status == DeliveryStatus.SENDING,
               table.c.claimed_at == held.at)
        .values(claimed_at=now)
        .returning(table.c.id)
    ).scalars())
    conn.commit()
    if len(kept) < len(rest):
        held.lost += len(rest) - len(kept)
        held.rows = held.rows[:start] + [r for r in rest if r.id in kept]
        log.warning("%d claimed delivery(ies) were taken by another sender while this one "
                    "waited; not sending them", len(rest) - len(kept))
    held.at, held.renewed = now, time.monotonic()
    return len(kept)


def mailer_for(
    edition: Edition, rendered: RenderedEdition, *, subject_prefix: str = ""
) -> EditionMailer:
    sender = str(get_setting("sender") or current_app.config["MAIL_DEFAULT_SENDER"])
    return EditionMailer(
        rendered,
        sender=sender,
        web_url=links.edition_url(edition.number),
        list_id=f"Feel Good Fridays <feel-good-fridays.{_sender_domain(sender)}>",
        subject_prefix=subject_prefix,
    )


def _sender_domain(sender: str | None = None) -> str:
    sender = sender or str(get_setting("sender") or current_app.config["MAIL_DEFAULT_SENDER"])
    return parseaddr(sender)[1].rpartition("@")[2].lower() or "feelgood.local"


# -- mail server outages ------------------------------------------------------------------------

SEND_PAUSED = "edition.send_paused"
SEND_OUTAGE_ALERT = "edition.send_outage_alert"
SEND_RESUMED = "edition.send_resumed"


def outage_reason(failure: SendResult) -> str:
    """What editors and operators read about a session failure: a 5xx refusal of the whole
    session will not go away by itself, so it says where to look."""
    text = _error(failure)
    if failure.code is not None and 500 <= failure.code <= 599:
        return (
            f"The mail server refused the session permanently ({text}). Check the relay "
            "configuration: MAIL_SERVER, MAIL_PORT, MAIL_USERNAME / MAIL_PASSWORD, and that "
            "this host is allowed to relay. Sending retries on its own meanwhile."
        )
    return text


def outage_retry_delay(passes: int) -> timedelta:
    """Exponential from NEWSLETTER_OUTAGE_RETRY_BASE_SECONDS, capped: a server that is back is
    noticed within the cap, and a long outage costs one connection attempt per cap."""
    base = current_app.config["NEWSLETTER_OUTAGE_RETRY_BASE_SECONDS"]
    cap = current_app.config["NEWSLETTER_OUTAGE_RETRY_MAX_SECONDS"]
    return timedelta(seconds=min(base * 2 ** min(max(passes - 1, 0), 30), cap))


def pause_sending(
    edition_id: int, failure: SendResult, *, now: datetime, fresh: bool = False
) -> datetime:
    """Record that a pass stopped because the mail server failed; returns the next retry time.

    `fresh` (the server answered earlier in the same pass) starts a new outage instead of
    extending the current one. Plain UPDATEs: this is not an editor's change, so no version bump.
    """
    table = Edition.__table__
    begin_write()  # read the pause, then write it: one write transaction on SQLite
    row = db.session.execute(
        sa.select(table.c.number, table.c.send_paused_at, table.c.send_pause_count)
        .where(table.c.id == edition_id)
    ).one()
    new_outage = fresh or row.send_paused_at is None
    since = now if new_outage else row.send_paused_at
    passes = 1 if new_outage else row.send_pause_count + 1
    retry_at = now + outage_retry_delay(passes)
    reason = outage_reason(failure)
    db.session.execute(
        sa.update(table)
        .where(table.c.id == edition_id)
        .values(send_paused_at=since, send_pause_reason=reason, send_retry_at=retry_at,
                send_pause_count=passes)
    )
    alert = timedelta(minutes=current_app.config["NEWSLETTER_OUTAGE_ALERT_MINUTES"])
    if new_outage:
        audit.record(None, SEND_PAUSED, object_type="edition", object_id=edition_id,
                     reason=reason, since=since.isoformat())
        log.info("edition #%s: mail server unavailable, sending paused (no one is charged an "
                 "attempt); next try at %s: %s", row.number, retry_at.isoformat(), reason)
    elif now - since >= alert and not _outage_alerted(edition_id, since):
        # Once per outage: the banner says it on the pages; an email would take the same road.
        audit.record(None, SEND_OUTAGE_ALERT, object_type="edition", object_id=edition_id,
                     since=since.isoformat(), passes=passes)
        log.warning("edition #%s: the mail server has been unavailable since %s (%d passes); "
                    "nothing is lost, sending resumes when it answers; next try at %s: %s",
                    row.number, since.isoformat(), passes, retry_at.isoformat(), reason)
    db.session.commit()
    return retry_at


def _outage_alerted(edition_id: int, since: datetime) -> bool:
    events = db.session.scalars(
        sa.select(AuditEvent.details).where(
            AuditEvent.action == SEND_OUTAGE_ALERT, AuditEvent.object_type == "edition",
            AuditEvent.object_id == edition_id,
        )
    )
    return any((details or {}).get("since") == since.isoformat() for details in events)


def _resume_sending(edition_id: int, number: int, paused_since: datetime | None) -> None:
    """The server answered: clear the pause, if there was one (one UPDATE when there was not)."""
    table = Edition.__table__
    result = db.session.execute(
        sa.update(table)
        .where(table.c.id == edition_id,
               sa.or_(table.c.send_paused_at.is_not(None), table.c.send_retry_at.is_not(None)))
        .values(send_paused_at=None, send_pause_reason=None, send_retry_at=None,
                send_pause_count=0)
    )
    if result.rowcount:
        audit.record(None, SEND_RESUMED, object_type="edition", object_id=edition_id,
                     since=paused_since.isoformat() if paused_since else None)
        log.info("edition #%s: the mail server answers again (unavailable since %s); sending "
                 "resumed", number, paused_since.isoformat() if paused_since else "?")
    db.session.commit()


def waiting_for_server(edition: Edition, now: datetime | None = None) -> bool:
    """Paused after an outage and its retry time has not come."""
    retry_at = edition.send_retry_at
    return retry_at is not None and retry_at > (now or utcnow())


# -- 4. finishing --------------------------------------------------------------------------------


def finish_edition(edition: Edition, *, now: datetime | None = None) -> bool:
    """sending → sent once no delivery is open: publish the items and announce it (EditionSent).
    Exactly one process wins (row lock / write lock, then the version check)."""
    now = now or utcnow()
    edition_id = edition.id
    db.session.commit()
    try:
        _lock_edition(edition_id)
        edition = _get_edition(edition_id, populate=True, with_items=True)
        if edition.status != E.SENDING or _open_count(edition_id):
            db.session.rollback()
            return False
        counts = delivery_counts(edition_id)
        edition.sent_count = counts.get(DeliveryStatus.SENT, 0)
        edition.failed_count = counts.get(DeliveryStatus.FAILED, 0)
        transition_edition(edition, E.SENT, actor=None, now=now,
                           sent=edition.sent_count, failed=edition.failed_count)
        # Every row is settled: a pause another sender recorded meanwhile is over too.
        edition.send_paused_at = edition.send_pause_reason = edition.send_retry_at = None
        edition.send_pause_count = 0
        published = _publish_items(edition, now)
        _announce(edition, published)
        db.session.commit()  # subscribers react after this commit (app.events)
    except StaleDataError:
        db.session.rollback()
        log.info("edition %s: finishing lost a race; another process finishes it", edition_id)
        return False
    except sa.exc.OperationalError:
        db.session.rollback()
        log.warning("edition %s: database busy, not finished; the next pass tries again",
                    edition_id)
        return False
    log.info("edition #%s sent: %d delivered, %d failed", edition.number, edition.sent_count,
             edition.failed_count)
    return True


def _announce(edition: Edition, published: list[Story | Quote]) -> None:
    """Say what happened; notifications and the next edition are the subscribers' business."""
    for item in published:
        emit(SubmissionPublished(item_kind=item.kind, item_id=item.id,
                                 author_id=item.author_id, edition_id=edition.id))
        if isinstance(item, Story):
            for user_id in dict.fromkeys(r.user_id for r in item.recognitions):
                if user_id is not None and user_id != item.author_id:
                    emit(ColleagueFeatured(user_id=user_id, story_id=item.id,
                                           edition_id=edition.id))
    emit(EditionSent(
        edition_id=edition.id, number=edition.number,
        story_ids=[i.id for i in published if isinstance(i, Story)],
        quote_ids=[i.id for i in published if isinstance(i, Quote)],
        sent=edition.sent_count, failed=edition.failed_count,
    ))  # fmt: skip


def _publish_items(edition: Edition, now: datetime) -> list[Story | Quote]:
    published = []
    for entry in edition.items:
        item = entry.content
        if item is not None and item.status == SubmissionStatus.APPROVED:
            transition_submission(item, SubmissionStatus.PUBLISHED, actor=None, now=now)
            published.append(item)
    return published


# -- the whole pipeline ---------------------------------------------------------------------------


@dataclass
class RunResult:
    edition_id: int
    claimed: bool = False
    created: RecipientReport | None = None
    stats: SendStats = field(default_factory=SendStats)
    finished: bool = False
    open_deliveries: int = 0
    paused: bool = False  # left waiting for the mail server (see Edition.send_retry_at)


def run_edition(
    edition_id: int,
    *,
    now: datetime | None = None,
    worker_id: str | None = None,
    progress: Progress | None = None,
    on_start: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    force: bool = False,
) -> RunResult:
    """Claim (if scheduled), build the recipient rows (once), send what is due, finish if done.

    Joining an edition another process is sending is safe and shares the work; a `sent`
    edition with pending rows (an admin's retry) just gets those sent. `on_start(total)` is
    called before the first message with the number of open deliveries (progress bars).
    An edition paused by a mail server outage is left alone until its `send_retry_at`, unless
    `force` (an operator's explicit `flask editions send`).
    """
    worker_id = worker_id or default_worker_id()
    result = RunResult(edition_id)
    edition = _get_edition(edition_id, populate=True)
    if not force and waiting_for_server(edition, now):
        result.paused = True
        result.open_deliveries = _open_count(edition_id)
        db.session.commit()
        return result
    if edition.status == E.SCHEDULED:
        result.claimed = claim_edition(edition_id, now=now, worker_id=worker_id)
        edition = _get_edition(edition_id, populate=True)
    if edition.status == E.SENDING:
        result.created = create_deliveries(edition, now=now)
    elif edition.status != E.SENT:
        db.session.rollback()
        return result
    if on_start is not None:
        on_start(_open_count(edition_id))
    result.stats = send_pending(
        edition_id, worker_id=worker_id, now=now, progress=progress, should_stop=should_stop
    )
    result.open_deliveries = _open_count(edition_id)
    edition = _get_edition(edition_id, populate=True)
    result.paused = edition.send_paused_at is not None
    if edition.status == E.SENDING and not result.open_deliveries:
        result.finished = finish_edition(edition, now=now)
    elif edition.status == E.SENT:
        refresh_counts(edition_id)
    db.session.commit()
    return result


# -- admin: retry failed deliveries ---------------------------------------------------------------


def retry_failed(edition: Edition, actor: User) -> int:
    """Put failed deliveries back in the queue; the sender picks them up on its next poll."""
    if not actor.is_admin:
        raise PermissionDenied("Only administrators can retry failed deliveries.")
    if edition.status not in (E.SENDING, E.SENT):
        raise IllegalTransition(f"Edition #{edition.number} has not been sent.")
    table = Delivery.__table__
    result = db.session.execute(
        sa.update(table)
        .where(table.c.edition_id == edition.id, table.c.status == DeliveryStatus.FAILED)
        .values(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=None, claimed_at=None)
    )
    count = int(result.rowcount or 0)
    if count:
        audit.record(actor, "edition.retry_failed", edition, deliveries=count)
    return count


def refresh_counts(edition_id: int) -> None:
    """Copy the delivery outcomes onto the edition (plain UPDATE: not an editor's change).

    An edition with no delivery rows left keeps its stored counts: retention housekeeping
    (app/privacy/retention.py) deletes the rows of long-sent editions, and a later re-run
    (`flask editions send N`) must not turn the report into zeros."""
    counts = delivery_counts(edition_id)
    if not counts:
        return
    table = Edition.__table__
    db.session.execute(
        sa.update(table)
        .where(table.c.id == edition_id)
        .values(sent_count=counts.get(DeliveryStatus.SENT, 0),
                failed_count=counts.get(DeliveryStatus.FAILED, 0))
    )


# -- the editor's test send -----------------------------------------------------------------------


def send_test(edition: Edition, user: User) -> SendResult:
    """The edition exactly as recipients will get it (same builder, dated by its send time, not
    by today), to `user` only, "[TEST]" subject.

    Sent right away through the real mail service: the editor is waiting for it.
    """
    mailer = mailer_for(edition, render_as_it_will_go_out(edition), subject_prefix="[TEST] ")
    message = mailer.message(
        email_address=user.email,
        name=user.display_name,
        first_name=user.first_name,
        message_id=make_msgid(domain=_sender_domain()),
        unsubscribe_url=links.unsubscribe_url(tokens.make_unsubscribe_token(user_id=user.id)),
        applause=RecipientKeys(edition.id).applause(user.id),  # clicks of a test: not counted
    )
    with get_backend() as backend:
        result = send_with(backend, message)
    audit.record(user, "edition.test_send", edition, to=user.email, result=result.status.value)
    if not result.ok:
        log.warning("test send of edition #%s to %s failed: %s", edition.number, user.email,
                    result.error)
    return result


# -- helpers -------------------------------------------------------------------------------------


def delivery_counts(edition_id: int) -> dict[DeliveryStatus, int]:
    rows = db.session.execute(
        sa.select(Delivery.status, sa.func.count())
        .where(Delivery.edition_id == edition_id)
        .group_by(Delivery.status)
    ).all()
    return {DeliveryStatus(status): int(count) for status, count in rows}


def _open_count(edition_id: int) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Delivery)
            .where(Delivery.edition_id == edition_id, Delivery.status.in_(OPEN))
        )
        or 0
    )


def _has_deliveries(edition_id: int) -> bool:
    return db.session.scalar(
        sa.select(Delivery.id).where(Delivery.edition_id == edition_id).limit(1)
    ) is not None


def _lock_edition(edition_id: int) -> None:
    """Serialize edition-level steps across processes: a write transaction (SQLite's write
    lock, waited for) whose first statement, a no-op UPDATE, locks the row on PostgreSQL."""
    begin_write()
    table = Edition.__table__
    db.session.execute(
        sa.update(table).where(table.c.id == edition_id).values(version=table.c.version)
    )


def _get_edition(edition_id: int, *, populate: bool = False, with_items: bool = False) -> Edition:
    options = []
    if with_items:
        options = [
            selectinload(Edition.items).selectinload(EditionItem.story).options(
                selectinload(Story.recognitions).selectinload(Recognition.user),
                selectinload(Story.author),
            ),
            selectinload(Edition.items).selectinload(EditionItem.quote).selectinload(Quote.author),
        ]
    edition = db.session.get(Edition, edition_id, populate_existing=populate, options=options)
    if edition is None:
        raise NotFound("There is no such edition.")
    return edition


def _zone() -> ZoneInfo:
    return ZoneInfo(get_setting("timezone"))
