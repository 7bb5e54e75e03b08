"""Sending webhook deliveries (`webhook_deliveries` rows), signed, with retries for a day.

A row is committed by the subscriber that reacts to a domain event (or by an admin's test or
replay); whoever claims it afterwards sends it:

* right after that commit, in the same process, on a background thread (app.outbound.Worker):
  a slow receiver never delays the event's other subscribers or a web request;
* the scheduler's "webhooks" job (every SCHEDULER_WEBHOOKS_SECONDS): what is due, including rows
  a dead process left in `sending` (claims older than `lease_seconds()` are taken again);
* "Send a test delivery": the admin's request sends its row after its commit, showing the answer.

Claim: one UPDATE pending → sending (PostgreSQL: FOR UPDATE SKIP LOCKED), so two processes never
send the same row. Each attempt first checks the URL's host again with app.outbound's address
rule (resolved now: a name that came to point at cloud metadata or, in production, at this
machine is refused without a request, a failed attempt saying why), then POSTs the stored body
with fresh Standard Webhooks headers (same `webhook-id`, this attempt's timestamp, which is also
the attempt's recorded `last_attempt_at`). Outcome, stored with the endpoint's last success /
failure only while the claim holds:

* 2xx: delivered;
* 410 Gone: the receiver asks to stop: failed, and the endpoint switched off;
* a redirect (3xx): failed at once; it is never followed (a delivery goes only to the URL the
  admin saved) and asking again gets the same answer (as chat posts);
* anything else (4xx, 5xx, a timeout, no connection, an address refused): pending again after
  Retry-After when given, else WEBHOOK_RETRY_BASE_SECONDS doubling up to
  WEBHOOK_RETRY_MAX_SECONDS; once the next try would fall beyond WEBHOOK_RETRY_WINDOW_SECONDS
  after the row was created, failed (replayable from the admin page).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask
from flask import current_app

from app.extensions import db
from app.models import WebhookDelivery
from app.models import WebhookDeliveryStatus
from app.models import WebhookEndpoint
from app.models import utcnow
from app.outbound import Answer
from app.outbound import Background
from app.outbound import Outcome
from app.outbound import PassStats
from app.outbound import claim_one
from app.outbound import due
from app.outbound import failure_text
from app.outbound import next_delay
from app.outbound import parse_retry_after
from app.outbound import response_text
from app.outbound import run_pass
from app.outbound import store_if_claimed
from app.outbound import url_refusal
from app.webhooks import signing
from app.webhooks.catalog import TEST

log = logging.getLogger(__name__)

S = WebhookDeliveryStatus
USER_AGENT = "FeelGoodFridays-Webhooks/1"
RESPONSE_BYTES_MAX = 64 * 1024  # read of an answer; 1,000 characters are kept
FAILURE_MAX = 1000
GONE = 410
OUTCOMES = {S.DELIVERED: Outcome.DONE, S.FAILED: Outcome.FAILED, S.PENDING: Outcome.DEFERRED,
            None: Outcome.LOST}
_rows = WebhookDelivery.__table__
_endpoints = WebhookEndpoint.__table__


WebhookStats = PassStats  # done = delivered


@dataclass(frozen=True)
class Claimed:
    id: int
    endpoint_id: int
    message_id: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    claimed_at: datetime  # this claim's; the outcome is stored only while it still holds
    url: str
    secret: str


@dataclass(frozen=True)
class Sent:
    """One attempt: the answer, how long it took, and the headers it carried (for the log)."""

    answer: Answer
    ms: int
    headers: dict[str, str]


def lease_seconds() -> int:
    """How long a claim lasts before the row is taken for abandoned (a few socket timeouts)."""
    return 3 * int(current_app.config["WEBHOOK_TIMEOUT_SECONDS"]) + 60


def loopback_allowed() -> bool:
    """Loopback receivers (this machine) only while WEBHOOK_REQUIRE_HTTPS is off: development
    and tests; in production a receiver is never the app's own host."""
    return not current_app.config["WEBHOOK_REQUIRE_HTTPS"]


def encode(payload: dict[str, Any]) -> bytes:
    """The body's bytes: compact JSON, UTF-8, keys in their stored order."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def request_headers(claimed_secret: str, message_id: str, at: int, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT,
            **signing.headers(claimed_secret, message_id, at, body)}


def send(url: str, secret: str, message_id: str, payload: dict[str, Any], *,
         timeout: float, now: float | None = None, loopback: bool = False) -> Sent:
    """POST one attempt; never raises for network trouble (an Answer with code None). The
    host is checked first (app.outbound's rule; loopback only with `loopback`): a refused or
    unresolvable one is an Answer with code None saying why, and no request is made."""
    body = encode(payload)
    headers = request_headers(secret, message_id, int(now if now is not None else time.time()),
                              body)
    started = time.monotonic()
    refused = url_refusal(url, loopback=loopback, private=True,
                          unresolved="the host name is not found")
    if refused is not None:
        return Sent(Answer(None, f"Not sent: {refused}."), 0, headers)
    try:
        # Redirects are not followed: a delivery goes only to the URL the admin saved.
        with requests.post(url, data=body, headers=headers, timeout=timeout,
                           allow_redirects=False, stream=True) as response:
            raw = (response.content[:RESPONSE_BYTES_MAX] if response.is_redirect
                   else response.raw.read(RESPONSE_BYTES_MAX, decode_content=True))
            answer = Answer(response.status_code, response_text(raw),
                            parse_retry_after(response.headers.get("Retry-After")))
    except Exception as exc:  # a timeout, a refused connection, a broken answer
        answer = Answer(None, failure_text(exc))
    return Sent(answer, round((time.monotonic() - started) * 1000), headers)


def deliver(
    now: datetime | None = None,
    *,
    ids: Sequence[int] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> WebhookStats:
    """Claim and send what is due (only `ids` when given), one row at a time, in id order
    (app.outbound.run_pass: an endpoint that fails rests for the rest of the pass).
    `now` fixes the clock (tests)."""
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    if ids is not None and not ids:
        return WebhookStats()
    timeout = float(current_app.config["WEBHOOK_TIMEOUT_SECONDS"])
    loopback = loopback_allowed()

    def attempt(claimed: Claimed) -> Outcome:
        # One time for the attempt: its signed webhook-timestamp is its last_attempt_at.
        at = clock()
        sent = send(claimed.url, claimed.secret, claimed.message_id, claimed.payload,
                    timeout=timeout, now=at.timestamp(), loopback=loopback)
        return OUTCOMES[record(claimed, sent, at)]

    return run_pass(lambda after_id, resting: claim(clock(), after_id, ids, resting), attempt,
                    lambda c: (c.id, c.endpoint_id), should_stop, log=log,
                    label="webhooks (delivered)", channel="webhooks",
                    quiet=ids is not None)


def claim(now: datetime, after_id: int = 0, ids: Sequence[int] | None = None,
          resting: frozenset[int] = frozenset()) -> Claimed | None:
    """Move the next due row to `sending` and return it with its endpoint's URL and secret.
    Deliveries of inactive endpoints wait (test deliveries excepted: an admin checks an
    endpoint before switching it on)."""
    t, e = _rows, _endpoints
    active = sa.or_(t.c.event_type == TEST, t.c.endpoint_id.in_(
        sa.select(e.c.id).where(e.c.active.is_(True)).scalar_subquery()))
    pick = sa.select(t.c.id).where(due(t, now, lease_seconds(), S.PENDING, S.SENDING), active,
                                   t.c.id > after_id)
    if ids is not None:
        pick = pick.where(t.c.id.in_(list(ids)))
    if resting:
        pick = pick.where(t.c.endpoint_id.not_in(list(resting)))
    with db.engine.begin() as conn:
        row = claim_one(conn, t, pick.order_by(t.c.id).limit(1),
                        {"status": S.SENDING, "claimed_at": now},
                        (t.c.id, t.c.endpoint_id, t.c.message_id, t.c.payload, t.c.attempts,
                         t.c.created_at, t.c.claimed_at))
        target = None if row is None else conn.execute(
            sa.select(e.c.url, e.c.secret).where(e.c.id == row.endpoint_id)).first()
    if row is None or target is None:  # nothing due, or the endpoint deleted meanwhile
        return None
    return Claimed(row.id, row.endpoint_id, row.message_id, row.payload, row.attempts,
                   row.created_at, row.claimed_at, target.url, target.secret)


def describe(answer: Answer) -> str:
    if answer.code is None:
        return answer.text or "No answer"
    return f"{answer.code} {answer.text}".strip()


def is_redirect(answer: Answer) -> bool:
    return answer.code is not None and 300 <= answer.code < 400


def _outcome(claimed: Claimed, answer: Answer, attempts: int,
             at: datetime) -> tuple[WebhookDeliveryStatus, datetime | None]:
    """The new status and, when pending, the next try."""
    if answer.ok:
        return S.DELIVERED, None
    if answer.code == GONE or is_redirect(answer):
        return S.FAILED, None
    config = current_app.config
    delay = next_delay(answer, attempts, int(config["WEBHOOK_RETRY_BASE_SECONDS"]),
                       int(config["WEBHOOK_RETRY_MAX_SECONDS"]))
    next_at = at + timedelta(seconds=delay)
    window = timedelta(seconds=int(config["WEBHOOK_RETRY_WINDOW_SECONDS"]))
    if next_at > claimed.created_at + window:
        return S.FAILED, None
    return S.PENDING, next_at


def record(claimed: Claimed, sent: Sent, at: datetime) -> WebhookDeliveryStatus | None:
    """Store the attempt on the row and the endpoint; the row's new status, or None when the
    claim was lost (nothing is stored: the current claimer's outcome stands)."""
    answer = sent.answer
    attempts = claimed.attempts + 1
    status, next_at = _outcome(claimed, answer, attempts, at)
    values: dict[str, Any] = {
        "status": status, "attempts": attempts, "claimed_at": None, "next_attempt_at": next_at,
        "last_attempt_at": at, "response_code": answer.code, "response_ms": sent.ms,
        "response_text": answer.text,
    }  # fmt: skip
    seen: dict[str, Any] = {}
    if status is S.DELIVERED:
        values["delivered_at"] = at
        seen["last_success_at"] = at
    else:
        seen.update(last_failure_at=at, last_failure=describe(answer)[:FAILURE_MAX])
        if answer.code == GONE:
            seen["active"] = False
    with db.engine.begin() as conn:
        if not store_if_claimed(conn, _rows, claimed.id, claimed.claimed_at, S.SENDING, values):
            log.info("webhook delivery %d: claim lost (taken again after the lease, or "
                     "deleted); this outcome is not recorded", claimed.id)
            return None
        # updated_at stays: it says when an admin last changed the endpoint.
        conn.execute(sa.update(_endpoints).where(_endpoints.c.id == claimed.endpoint_id)
                     .values(updated_at=_endpoints.c.updated_at, **seen))  # fmt: skip
    if answer.code == GONE:
        log.warning("webhook endpoint %d answered 410 Gone: switched off", claimed.endpoint_id)
    elif is_redirect(answer):
        log.warning("webhook delivery %d failed: the endpoint answered %d, a redirect, which is "
                    "never followed", claimed.id, answer.code)
    elif status is S.FAILED:
        log.warning("webhook delivery %d failed for good after %d attempt(s): %s", claimed.id,
                    attempts, seen["last_failure"])
    elif status is S.PENDING:
        log.warning("webhook delivery %d failed (attempt %d), retry at %s: %s", claimed.id,
                    attempts, next_at, seen["last_failure"])
    return status


def prune(now: datetime | None = None) -> int:
    """Delete delivered rows older than WEBHOOK_KEEP_DAYS; failed ones stay to be replayed."""
    keep = int(current_app.config["WEBHOOK_KEEP_DAYS"])
    cutoff = (now or utcnow()) - timedelta(days=keep)
    with db.engine.begin() as conn:
        pruned = conn.execute(sa.delete(_rows).where(
            _rows.c.status == S.DELIVERED, _rows.c.created_at < cutoff)).rowcount
    if pruned:
        log.info("webhooks: %d delivered row(s) older than %d days pruned", pruned, keep)
    return pruned


# -- right after the commit, off the committing thread ------------------------------------------


def _deliver_ids(ids: list[int]) -> None:
    deliver(ids=ids)


_background = Background("webhooks", _deliver_ids, log, "webhook delivery(ies)")


def wait_for_deliveries(app: Flask, timeout: float = 30.0) -> bool:
    """Wait until this process's background sending is idle; True if it is."""
    return _background.wait(app, timeout)


def send_after_commit(row: WebhookDelivery) -> None:
    """Send `row` (added to the session, flushed) on the background thread once the current
    transaction commits; a rollback drops it with the row."""
    _background.record(db.session(), row)


def init_app(app: Flask) -> None:
    """Attach the session hooks (once per process); create_app's register_session_hooks."""
    _background.listen()
