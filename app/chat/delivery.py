"""Posting the chat outbox (`chat_posts` rows) to Slack and Teams, with retries.

A post row is committed by the subscriber that reacts to an event (or by the admin's "Send a
test post"); whoever claims it afterwards posts it:

* right after that commit, in the same process, on a background thread (one per app and
  process, app.outbound.Background): the subscriber only hands over ids, so a slow or failing
  chat service never delays the send, the other subscribers of the event, or a web request;
* the scheduler's "chat" job (every SCHEDULER_CHAT_SECONDS): whatever is due, including rows a
  dead process left in `sending` (claims older than `lease_seconds()` are taken again);
* "Send a test post": the admin's request posts its one row after its commit and shows the answer.

Claim: one atomic UPDATE pending → sending returning the row (app.outbound.claim_one;
PostgreSQL: FOR UPDATE SKIP LOCKED), so two processes never post the same row. Outcome,
committed at once with the destination's last success / failure:

* 2xx: sent;
* a permanent refusal (a redirect, never followed; 4xx other than 408, 425, 429: wrong,
  revoked or archived URL, body refused) or CHAT_MAX_ATTEMPTS used: failed, shown to admins
  with the answer;
* otherwise (5xx, 408/425/429, timeout, no connection): pending again, after Retry-After when
  the answer has one, else CHAT_RETRY_BASE_SECONDS doubling per attempt up to
  CHAT_RETRY_MAX_SECONDS; the destination's other posts wait for the next pass.

The outcome is stored only by the current claimer (the row still `sending` with this claim's
`claimed_at`, app.outbound.store_if_claimed): a claimer slower than the lease, whose row was
taken again, records nothing. Stored answers and logs never hold the URL (the secret):
providers report a failure without the exception's text, see `app.outbound.failure_text`.
The backoff, the pass loop and the background thread are app.outbound's, shared with webhooks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask import current_app

from app.chat.providers import Answer
from app.chat.providers import get_provider
from app.extensions import db
from app.models import ChatDestination
from app.models import ChatPost
from app.models import ChatPostStatus
from app.models import utcnow
from app.outbound import Background
from app.outbound import Outcome
from app.outbound import PassStats
from app.outbound import claim_one
from app.outbound import due
from app.outbound import next_delay
from app.outbound import run_pass
from app.outbound import store_if_claimed

log = logging.getLogger(__name__)

S = ChatPostStatus
FAILURE_MAX = 1000
_posts = ChatPost.__table__
_destinations = ChatDestination.__table__
ChatStats = PassStats  # done = posts sent
OUTCOMES = {S.SENT: Outcome.DONE, S.FAILED: Outcome.FAILED, S.PENDING: Outcome.DEFERRED,
            None: Outcome.LOST}


@dataclass(frozen=True)
class Claimed:
    id: int
    destination_id: int
    payload: dict[str, Any]
    attempts: int
    url: str
    kind: str
    claimed_at: datetime  # this claim's; the outcome is stored only while it still holds


def lease_seconds() -> int:
    """How long a claim lasts before the row is taken for abandoned: a post takes at most a
    few socket timeouts (connect, send, read)."""
    return 3 * int(current_app.config["CHAT_TIMEOUT_SECONDS"]) + 60


def deliver_posts(
    now: datetime | None = None,
    *,
    ids: Sequence[int] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ChatStats:
    """Claim and post what is due (only `ids` when given), one row at a time, in id order
    (app.outbound.run_pass: a destination that fails or asks to slow down is left alone for the
    rest of the pass, so an outage costs one timeout per pass, not one per post).
    `now` fixes the clock (tests)."""
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    if ids is not None and not ids:
        return ChatStats()
    timeout = float(current_app.config["CHAT_TIMEOUT_SECONDS"])

    def attempt(claimed: Claimed) -> Outcome:
        answer = get_provider(claimed.kind).post(claimed.url, claimed.payload, timeout=timeout)
        return OUTCOMES[record(claimed, answer, clock())]

    return run_pass(
        lambda after_id, resting: claim(clock(), after_id=after_id, ids=ids, resting=resting),
        attempt, lambda c: (c.id, c.destination_id), should_stop, log=log,
        label="chat posts", channel="chat", quiet=ids is not None)


def claim(
    now: datetime,
    *,
    after_id: int = 0,
    ids: Sequence[int] | None = None,
    resting: set[int] | frozenset[int] = frozenset(),
) -> Claimed | None:
    """Atomically move the next due row to `sending` and return it with its destination.

    Due: pending with no next_attempt_at or one that has come, or `sending` with a claim older
    than the lease. Posts of inactive destinations wait (test posts excepted: an admin checks
    a URL before switching it on).
    """
    t, d = _posts, _destinations
    active = sa.or_(t.c.event == "test", t.c.destination_id.in_(
        sa.select(d.c.id).where(d.c.active.is_(True)).scalar_subquery()))
    pick = sa.select(t.c.id).where(due(t, now, lease_seconds(), S.PENDING, S.SENDING), active,
                                   t.c.id > after_id)
    if ids is not None:
        pick = pick.where(t.c.id.in_(list(ids)))
    if resting:
        pick = pick.where(t.c.destination_id.not_in(list(resting)))
    with db.engine.begin() as conn:
        row = claim_one(conn, t, pick.order_by(t.c.id).limit(1),
                        {"status": S.SENDING, "claimed_at": now},
                        (t.c.id, t.c.destination_id, t.c.payload, t.c.attempts, t.c.claimed_at))
        target = None if row is None else conn.execute(
            sa.select(d.c.webhook_url, d.c.kind).where(d.c.id == row.destination_id)).first()
    if row is None or target is None:  # nothing due, or deleted meanwhile (its posts go too)
        return None
    return Claimed(row.id, row.destination_id, row.payload, row.attempts,
                   target.webhook_url, str(target.kind), row.claimed_at)


def describe(answer: Answer) -> str:
    if answer.code is None:
        return answer.text or "No answer"
    return f"{answer.code} {answer.text}".strip()


def record(claimed: Claimed, answer: Answer, at: datetime) -> ChatPostStatus | None:
    """Store the answer on the post and the destination; the post's new status, or None when
    the claim was lost (taken again after the lease, or the post deleted): nothing is stored,
    the current claimer's outcome stands."""
    attempts = claimed.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts, "claimed_at": None, "next_attempt_at": None,
        "response_code": answer.code, "response_text": answer.text,
    }  # fmt: skip
    max_attempts = int(current_app.config["CHAT_MAX_ATTEMPTS"])
    seen: dict[str, Any] = {}
    delay = 0
    if answer.ok:
        status = S.SENT
        values["sent_at"] = at
        seen["last_success_at"] = at
    else:
        seen.update(last_failure_at=at, last_failure=describe(answer)[:FAILURE_MAX])
        if answer.permanent or attempts >= max_attempts:
            status = S.FAILED
        else:
            status = S.PENDING
            config = current_app.config
            delay = next_delay(answer, attempts, int(config["CHAT_RETRY_BASE_SECONDS"]),
                               int(config["CHAT_RETRY_MAX_SECONDS"]))
            values["next_attempt_at"] = at + timedelta(seconds=delay)
    values["status"] = status
    with db.engine.begin() as conn:
        if not store_if_claimed(conn, _posts, claimed.id, claimed.claimed_at, S.SENDING, values):
            log.info("chat post %d: claim lost (taken again after the lease, or deleted); "
                     "this outcome is not recorded", claimed.id)
            return None
        # updated_at stays: it says when an admin last changed the destination.
        conn.execute(sa.update(_destinations)
                     .where(_destinations.c.id == claimed.destination_id)
                     .values(updated_at=_destinations.c.updated_at, **seen))  # fmt: skip
    if status is S.FAILED:
        log.warning("chat post %d failed for good after %d attempt(s): %s", claimed.id,
                    attempts, seen["last_failure"])
    elif status is S.PENDING:
        log.warning("chat post %d failed (attempt %d of %d), retry in %d s: %s", claimed.id,
                    attempts, max_attempts, delay, seen["last_failure"])
    return status


def run_chat(
    now: datetime | None = None, *, should_stop: Callable[[], bool] | None = None
) -> ChatStats:
    """One tick of the scheduler's "chat" job: post what is due, then forget old sent posts."""
    stats = deliver_posts(now, should_stop=should_stop)
    stats.pruned = prune_posts(now)
    return stats


def prune_posts(now: datetime | None = None) -> int:
    """Delete sent posts older than CHAT_KEEP_DAYS; failed ones stay for the admin to see."""
    keep = current_app.config["CHAT_KEEP_DAYS"]
    cutoff = (now or utcnow()) - timedelta(days=keep)
    with db.engine.begin() as conn:
        result = conn.execute(
            sa.delete(_posts).where(_posts.c.status == ChatPostStatus.SENT,
                                    _posts.c.sent_at < cutoff)
        )
    if result.rowcount:
        log.info("chat: %d sent post(s) older than %d days pruned", result.rowcount, keep)
    return result.rowcount


# -- right after the commit, off the committing thread ------------------------------------------


_background = Background("chat", lambda ids: deliver_posts(ids=ids), log, "chat post(s)")


def wait_for_posts(app: Flask, timeout: float = 30.0) -> bool:
    """Wait until this process's background posting is idle; True if it is."""
    return _background.wait(app, timeout)


def post_after_commit(post: ChatPost) -> None:
    """Post `post` (added to the session, flushed) on the background thread once the current
    transaction commits; a rollback drops it with the row."""
    _background.record(db.session(), post)


def init_app(app: Flask) -> None:
    """Attach the session hooks (once per process); called while create_app registers the
    chat blueprint."""
    _background.listen()
