"""Delivering the durable mail outbox (`mail_outbox` rows written by `send_email_after_commit`).

The row is committed with the change the email announces; whoever claims it afterwards sends it.
Two callers share `deliver_outbox`: the process that committed (at once, only its own rows) and
the scheduler's "mail outbox" job (everything due, including rows a dead process left behind).

* Claim: one atomic UPDATE pending → sending (with claimed_at) returning the rows, so two
  processes never take the same row. On PostgreSQL the ids are picked in a MATERIALIZED CTE with
  `FOR UPDATE SKIP LOCKED`: the LIMIT is evaluated once, and concurrent claimers skip each
  other's rows instead of waiting. SQLite serializes writers, so a plain subquery is enough.
* Rows left in `sending` longer than NEWSLETTER_CLAIM_TIMEOUT_SECONDS belong to a process that
  died mid-send; they are claimed again (the one message in flight at the crash may repeat,
  under the same Message-ID).
* Outcomes follow the newsletter's rules (NEWSLETTER_MAX_ATTEMPTS, NEWSLETTER_RETRY_BASE_SECONDS,
  NEWSLETTER_RETRY_MAX_SECONDS): sent; 5xx or attempts used up → failed; else pending again with
  exponential backoff. Each outcome is committed as soon as the server answers.
* A failure of the mail server connection itself (nothing listening, 421 greeting, failed login)
  says nothing about the message: the pass stops, no attempt is charged, the rows wait.
"""

from __future__ import annotations

import contextlib
import email
import logging
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Row

from app.extensions import db
from app.mail.backends import MailBackend
from app.mail.backends import SendResult
from app.mail.backends import SendStatus
from app.mail.backends import get_backend
from app.mail.message import POLICY
from app.mail.message import envelope_recipients
from app.models import OutboxMessage
from app.models import OutboxStatus
from app.models import utcnow
from app.signals import mail_answered

log = logging.getLogger(__name__)

DEFAULT_BATCH = 50
S = OutboxStatus
_table = OutboxMessage.__table__



@dataclass
class OutboxStats:
    sent: int = 0
    failed: int = 0
    deferred: int = 0  # transient failure: pending again, with next_attempt_at
    stopped: str | None = None  # why the pass ended early (mail server unreachable, shutdown)
    pruned: int = 0

    @property
    def processed(self) -> int:
        return self.sent + self.failed + self.deferred


# -- recording -----------------------------------------------------------------------------------


def new_row(template: str, msg: EmailMessage) -> OutboxMessage:
    """The outbox row for a built message (not added to any session)."""
    to_addr = ", ".join(envelope_recipients(msg))
    return OutboxMessage(
        template=template[:80],
        to_addr=to_addr[:254],
        subject=str(msg["Subject"] or "")[:255],
        raw=msg.as_bytes(),
        status=S.PENDING,
        attempts=0,
        created_at=utcnow(),
    )


def insert_now(rows: Iterable[OutboxMessage]) -> list[int]:
    """Commit rows in a transaction of their own (no caller transaction to join); their ids."""
    values = [
        {c.key: getattr(row, c.key) for c in _table.columns if c.key != "id"} for row in rows
    ]
    with db.engine.begin() as conn:
        return [conn.execute(sa.insert(_table).values(v).returning(_table.c.id)).scalar_one()
                for v in values]


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=POLICY)
    assert isinstance(msg, EmailMessage)
    return msg


# -- delivery ------------------------------------------------------------------------------------


def deliver_outbox(
    now: datetime | None = None,
    *,
    batch: int | None = None,
    ids: Sequence[int] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> OutboxStats:
    """Claim and send what is due (only `ids` when given), batch by batch, once per row.

    `now` fixes the clock (tests). The backend is built before anything is claimed, so a broken
    mail configuration raises without leaving rows in `sending`. A pass walks the table once in
    id order: a row deferred with no delay waits for the next pass instead of looping.
    """
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    size = batch or DEFAULT_BATCH
    lease = current_app.config["NEWSLETTER_CLAIM_TIMEOUT_SECONDS"]
    stats = OutboxStats()
    if ids is not None and not ids:
        return stats
    sender = _Sender(clock, lease, stats)
    after_id = 0
    with get_backend() as backend, db.engine.connect() as conn:
        while stats.stopped is None:
            if should_stop is not None and should_stop():
                stats.stopped = "shutting down"
                break
            rows = claim(conn, clock(), size, lease=lease, after_id=after_id, ids=ids)
            if not rows:
                break
            after_id = rows[-1].id
            sender.send_batch(conn, backend, rows)
    if stats.processed or stats.stopped:
        # A request sending its own rows without trouble is routine; a scheduler pass is not.
        quiet = ids is not None and stats.sent == stats.processed and not stats.stopped
        log.log(
            logging.DEBUG if quiet else logging.INFO,
            "mail outbox: %d sent, %d failed, %d deferred%s", stats.sent, stats.failed,
            stats.deferred, f" (stopped: {stats.stopped})" if stats.stopped else "",
        )  # fmt: skip
    return stats


def claim(
    conn: Connection,
    now: datetime,
    size: int,
    *,
    lease: int | None = None,
    after_id: int = 0,
    ids: Sequence[int] | None = None,
) -> list[Row]:
    """Atomically move up to `size` due rows to `sending` for this caller and return them.

    Due: pending with no next_attempt_at or one that has come, or `sending` with a claim older
    than `lease` seconds (its process died). Committed before returning.
    """
    lease = current_app.config["NEWSLETTER_CLAIM_TIMEOUT_SECONDS"] if lease is None else lease
    t = _table
    due = sa.or_(
        sa.and_(
            t.c.status == S.PENDING,
            sa.or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now),
        ),
        sa.and_(t.c.status == S.SENDING, t.c.claimed_at < now - timedelta(seconds=lease)),
    )
    pick = sa.select(t.c.id).where(due, t.c.id > after_id)
    if ids is not None:
        pick = pick.where(t.c.id.in_(list(ids)))
    pick = pick.order_by(t.c.id).limit(size)
    if conn.dialect.name == "postgresql":
        # `id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` may be re-run by the planner and
        # then moves more than n rows; a materialized CTE is evaluated exactly once.
        picked = pick.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
        stmt = sa.update(t).where(t.c.id == picked.c.id)
    else:
        stmt = sa.update(t).where(t.c.id.in_(pick.scalar_subquery()))
    rows = conn.execute(
        stmt.values(status=S.SENDING, claimed_at=now).returning(
            t.c.id, t.c.template, t.c.to_addr, t.c.raw, t.c.attempts
        )
    ).all()
    conn.commit()
    return sorted(rows, key=lambda r: r.id)


def is_session_failure(result: SendResult) -> bool:
    """The connection or SMTP session failed (not this message): retrying later is free."""
    return bool(getattr(result, "session", False))


class _Sender:
    def __init__(self, clock: Callable[[], datetime], lease: int, stats: OutboxStats) -> None:
        self.clock = clock
        self.lease = lease
        self.stats = stats
        self.max_attempts = current_app.config["NEWSLETTER_MAX_ATTEMPTS"]
        self.retry_base = current_app.config["NEWSLETTER_RETRY_BASE_SECONDS"]
        self.retry_max = current_app.config["NEWSLETTER_RETRY_MAX_SECONDS"]

    def send_batch(self, conn: Connection, backend: MailBackend, rows: Sequence[Row]) -> None:
        claimed_at = time.monotonic()
        for index, row in enumerate(rows):
            if time.monotonic() - claimed_at > self.lease / 2:
                _touch(conn, [r.id for r in rows[index:]], self.clock())
                claimed_at = time.monotonic()
            try:
                result = _send_one(backend, row)
                mail_answered.send("notification", result=result)
            except BaseException:
                with contextlib.suppress(Exception):  # the original error matters more
                    _release(conn, [r.id for r in rows[index:]], None)
                raise
            if is_session_failure(result):
                error = _error(result)
                _release(conn, [r.id for r in rows[index:]], error)
                self.stats.stopped = error
                log.warning(
                    "mail outbox: mail server unavailable, %d email(s) wait for the next "
                    "pass (no attempt charged); %s #%s: %s",
                    len(rows) - index, row.template, row.id, error,
                )  # fmt: skip
                return
            self._record(conn, row, result)

    def _record(self, conn: Connection, row: Row, result: SendResult) -> None:
        at = self.clock()
        attempts = row.attempts + 1
        values: dict[str, Any] = {
            "attempts": attempts, "claimed_at": None, "next_attempt_at": None,
            "last_error": None if result.ok else _error(result),
        }  # fmt: skip
        if result.ok:
            values.update(status=S.SENT, sent_at=at, last_error=result.error)
            self.stats.sent += 1
            if result.error:
                log.warning("email %s #%s partially refused: %s", row.template, row.id,
                            result.error)
        elif result.status is SendStatus.PERMANENT or attempts >= self.max_attempts:
            values.update(status=S.FAILED)
            self.stats.failed += 1
            log.warning(
                "email %s #%s failed for good after %d attempt(s): %s",
                row.template, row.id, attempts, values["last_error"],
            )  # fmt: skip
        else:
            delay = min(self.retry_base * 2 ** (attempts - 1), self.retry_max)
            values.update(status=S.PENDING, next_attempt_at=at + timedelta(seconds=delay))
            self.stats.deferred += 1
            log.warning(
                "email %s #%s failed (attempt %d of %d), retry in %d s: %s",
                row.template, row.id, attempts, self.max_attempts, delay,
                values["last_error"],
            )  # fmt: skip
        conn.execute(
            sa.update(_table)
            .where(_table.c.id == row.id, _table.c.status == S.SENDING)
            .values(**values)
        )
        conn.commit()


def _send_one(backend: MailBackend, row: Row) -> SendResult:
    try:
        return backend.send(parse(row.raw))
    except (ValueError, UnicodeError, LookupError) as exc:
        # The stored message cannot be read back or has no usable address: retrying won't help.
        return SendResult(SendStatus.PERMANENT, None, f"cannot read the stored message: {exc}")


def _error(result: SendResult) -> str:
    text = result.error or result.status.value
    return text if result.code is None or str(result.code) in text else f"{result.code} {text}"


def _release(conn: Connection, ids: list[int], error: str | None) -> None:
    """Give claimed rows back (pending, attempts unchanged) for the next pass."""
    if not ids:
        return
    values: dict[str, Any] = {"status": S.PENDING, "claimed_at": None}
    if error is not None:
        values["last_error"] = error
    conn.execute(
        sa.update(_table)
        .where(_table.c.id.in_(ids), _table.c.status == S.SENDING)
        .values(**values)
    )
    conn.commit()


def _touch(conn: Connection, ids: list[int], now: datetime) -> None:
    """Renew the claim of a slow batch so the scheduler does not take it for abandoned."""
    conn.execute(
        sa.update(_table)
        .where(_table.c.id.in_(ids), _table.c.status == S.SENDING)
        .values(claimed_at=now)
    )
    conn.commit()


# -- the scheduler job and housekeeping ------------------------------------------------------------


def prune_outbox(now: datetime | None = None, *, keep_days: int | None = None) -> int:
    """Delete sent rows older than MAIL_OUTBOX_KEEP_DAYS; failed rows stay for an operator."""
    now = now or utcnow()
    keep = current_app.config["MAIL_OUTBOX_KEEP_DAYS"] if keep_days is None else keep_days
    with db.engine.begin() as conn:
        result = conn.execute(
            sa.delete(_table).where(
                _table.c.status == S.SENT, _table.c.sent_at < now - timedelta(days=keep)
            )
        )
    if result.rowcount:
        log.info("mail outbox: %d sent email(s) older than %d days pruned", result.rowcount, keep)
    return result.rowcount


def run_outbox(
    now: datetime | None = None, *, should_stop: Callable[[], bool] | None = None
) -> OutboxStats:
    """One tick of the scheduler's "mail outbox" job (and `flask mail outbox`)."""
    stats = deliver_outbox(now, should_stop=should_stop)
    stats.pruned = prune_outbox(now)
    return stats


def retry_failed() -> int:
    """Give every failed row a fresh set of attempts (an operator fixed the cause)."""
    with db.engine.begin() as conn:
        result = conn.execute(
            sa.update(_table)
            .where(_table.c.status == S.FAILED)
            .values(status=S.PENDING, attempts=0, next_attempt_at=None)
        )
    return result.rowcount


def outbox_counts() -> dict[OutboxStatus, int]:
    """Rows per status, for operators."""
    rows = db.session.execute(
        sa.select(_table.c.status, sa.func.count()).group_by(_table.c.status)
    ).all()
    counts = dict.fromkeys(OutboxStatus, 0)
    counts.update({OutboxStatus(status): n for status, n in rows})
    return counts
