"""Posting chat posts to a real HTTP server on loopback: success, 429 with Retry-After, 5xx with
backoff, timeouts, permanent refusals, an outage longer than the retry schedule, stale claims,
and one failing destination never holding up another."""

from __future__ import annotations

import threading
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from email.utils import format_datetime

import pytest
from werkzeug import Response

from app.chat import delivery
from app.chat.providers import get_provider
from app.extensions import db
from app.models import ChatDestination
from app.models import ChatPost
from app.models import ChatPostStatus
from app.outbound import RETRY_AFTER_MAX
from app.outbound import parse_retry_after
from tests.fixtures.chat import bodies
from tests.fixtures.chat import make_destination
from tests.fixtures.chat import make_post

S = ChatPostStatus
T0 = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)


def _post(post_id: int) -> ChatPost:
    db.session.commit()  # a fresh snapshot: the posting wrote through its own connections
    return db.session.get(ChatPost, post_id)


def _destination(destination_id: int) -> ChatDestination:
    db.session.commit()
    return db.session.get(ChatDestination, destination_id)


@pytest.fixture
def slack(chat_server):
    destination = make_destination(chat_server.url_for("/slack"), kind="slack")
    post = make_post(destination, payload={"text": "hi", "blocks": [{"type": "divider"}]})
    db.session.commit()
    return destination.id, post.id


@pytest.mark.parametrize("kind", ["slack", "teams"])
def test_a_post_is_sent_once_and_the_answer_recorded(chat_server, kind):
    chat_server.expect_request("/hook", method="POST").respond_with_data(
        "ok" if kind == "slack" else "", status=200 if kind == "slack" else 202)
    destination = make_destination(chat_server.url_for("/hook"), kind=kind)
    post = make_post(destination, payload={"type": "message", "n": 1})
    db.session.commit()

    stats = delivery.deliver_posts(T0)
    again = delivery.deliver_posts(T0 + timedelta(hours=1))

    assert (stats.done, again.processed) == (1, 0)
    assert bodies(chat_server, "/hook") == [{"type": "message", "n": 1}]
    request = chat_server.log[0][0]
    assert request.headers["Content-Type"].startswith("application/json")
    row = _post(post.id)
    assert (row.status, row.attempts, row.response_code, row.sent_at) == (
        S.SENT, 1, 200 if kind == "slack" else 202, T0)
    assert row.response_text == ("ok" if kind == "slack" else "")
    assert _destination(destination.id).last_success_at == T0


def test_429_waits_at_least_retry_after_then_succeeds(chat_server, slack):
    destination_id, post_id = slack
    chat_server.expect_oneshot_request("/slack").respond_with_data(
        "rate_limited", status=429, headers={"Retry-After": "120"})
    chat_server.expect_request("/slack").respond_with_data("ok")

    delivery.deliver_posts(T0)
    row = _post(post_id)
    assert (row.status, row.attempts, row.response_code) == (S.PENDING, 1, 429)
    assert row.next_attempt_at >= T0 + timedelta(seconds=120)
    assert _destination(destination_id).last_failure == "429 rate_limited"

    assert delivery.deliver_posts(T0 + timedelta(seconds=119)).processed == 0
    assert len(chat_server.log) == 1
    assert delivery.deliver_posts(T0 + timedelta(seconds=120)).done == 1
    row = _post(post_id)
    assert (row.status, row.attempts, len(chat_server.log)) == (S.SENT, 2, 2)


def test_429_with_an_http_date(chat_server, slack):
    _destination_id, post_id = slack
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=300)
    chat_server.expect_request("/slack").respond_with_data(
        "slow down", status=429, headers={"Retry-After": format_datetime(later, usegmt=True)})
    before = datetime.now(UTC)
    delivery.deliver_posts()
    row = _post(post_id)
    assert row.status is S.PENDING
    assert row.next_attempt_at >= later - timedelta(seconds=1)
    assert row.next_attempt_at <= before + timedelta(seconds=302)


@pytest.mark.app_config(CHAT_RETRY_BASE_SECONDS=30, CHAT_RETRY_MAX_SECONDS=100,
                        CHAT_MAX_ATTEMPTS=8)
def test_500_is_retried_with_doubling_backoff_up_to_the_cap(chat_server, slack):
    _destination_id, post_id = slack
    for _ in range(4):
        chat_server.expect_oneshot_request("/slack").respond_with_data("rollup_error", status=500)
    chat_server.expect_request("/slack").respond_with_data("ok")

    clock, waits = T0, []
    while _post(post_id).status is not S.SENT:
        delivery.deliver_posts(clock)
        row = _post(post_id)
        if row.status is S.PENDING:
            waits.append((row.next_attempt_at - clock).total_seconds())
            # Not a second early: nothing goes out before the time it was given.
            assert delivery.deliver_posts(row.next_attempt_at - timedelta(seconds=1)).processed == 0
            clock = row.next_attempt_at
    assert waits == [30, 60, 100, 100]  # 30 doubling, capped at CHAT_RETRY_MAX_SECONDS
    row = _post(post_id)
    assert (row.attempts, row.response_code, len(chat_server.log)) == (5, 200, 5)


@pytest.mark.app_config(CHAT_TIMEOUT_SECONDS=1)
@pytest.mark.parametrize("kind", ["slack", "teams"])
def test_a_server_slower_than_the_timeout_leaves_the_post_pending(chat_server, kind):
    answered = threading.Event()

    def slow(_request):
        time.sleep(2.5)
        answered.set()
        return Response("ok")

    chat_server.expect_request("/slow").respond_with_handler(slow)
    destination = make_destination(chat_server.url_for("/slow"), kind=kind)
    post = make_post(destination)
    db.session.commit()

    started = time.monotonic()
    stats = delivery.deliver_posts(T0)  # no exception escapes
    elapsed = time.monotonic() - started

    assert stats.deferred == 1 and elapsed < 2.4
    row = _post(post.id)
    assert (row.status, row.attempts, row.response_code) == (S.PENDING, 1, None)
    assert "timed out" in row.response_text.lower()
    assert row.next_attempt_at == T0 + timedelta(seconds=30)
    assert "timed out" in _destination(destination.id).last_failure.lower()
    # The server answers late, to nobody; wait for it so its log stays this test's.
    assert answered.wait(10)
    deadline = time.monotonic() + 5
    while not bodies(chat_server, "/slow") and time.monotonic() < deadline:
        time.sleep(0.02)


def test_nothing_listening_is_a_transient_failure(app, chat_server):
    chat_server.expect_request("/x").respond_with_data("ok")
    url = chat_server.url_for("/x").replace(f":{chat_server.port}", ":9")  # discard port
    post = make_post(make_destination(url))
    db.session.commit()
    assert delivery.deliver_posts(T0).deferred == 1
    row = _post(post.id)
    assert (row.status, row.response_code) == (S.PENDING, None)
    assert row.response_text


@pytest.mark.parametrize(("code", "body", "status"), [
    (400, "invalid_payload", S.FAILED), (403, "action_prohibited", S.FAILED),
    (404, "channel_not_found", S.FAILED), (410, "channel_is_archived", S.FAILED),
    (401, "unauthorized", S.FAILED),
    (408, "request timeout", S.PENDING), (429, "rate_limited", S.PENDING),
    (502, "bad gateway", S.PENDING), (503, "unavailable", S.PENDING),
])
def test_permanent_refusals_fail_at_once_others_are_retried(chat_server, slack, code, body,
                                                            status):
    destination_id, post_id = slack
    chat_server.expect_request("/slack").respond_with_data(body, status=code)
    delivery.deliver_posts(T0)
    row = _post(post_id)
    assert (row.status, row.attempts, row.response_code, row.response_text) == (
        status, 1, code, body)
    assert (row.next_attempt_at is None) == (status is S.FAILED)
    destination = _destination(destination_id)
    assert destination.last_failure == f"{code} {body}" and destination.last_failure_at == T0
    assert destination.last_success_at is None


@pytest.mark.app_config(CHAT_MAX_ATTEMPTS=4, CHAT_RETRY_BASE_SECONDS=10,
                        CHAT_RETRY_MAX_SECONDS=40)
def test_an_outage_longer_than_the_retry_schedule_fails_after_exactly_max_attempts(
        chat_server, slack):
    _destination_id, post_id = slack
    chat_server.expect_request("/slack").respond_with_data("down", status=503)
    clock = T0
    for _ in range(20):  # the scheduler ticking long after the last attempt
        delivery.deliver_posts(clock)
        clock += timedelta(seconds=45)
    row = _post(post_id)
    assert (row.status, row.attempts, row.response_code) == (S.FAILED, 4, 503)
    assert len(chat_server.log) == 4  # nothing posted twice beyond the schedule


def test_a_failing_destination_does_not_hold_up_another(chat_server):
    chat_server.expect_request("/down").respond_with_data("oops", status=500)
    chat_server.expect_request("/up").respond_with_data("ok")
    down = make_destination(chat_server.url_for("/down"))
    up = make_destination(chat_server.url_for("/up"))
    first, second = make_post(down, key="a"), make_post(down, key="b")
    fine = make_post(up, key="a")
    db.session.commit()

    stats = delivery.deliver_posts(T0)

    assert (stats.done, stats.deferred) == (1, 1)
    assert _post(fine.id).status is S.SENT
    assert _post(first.id).attempts == 1
    # The down destination's next post waits for the next pass, uncharged.
    assert (_post(second.id).status, _post(second.id).attempts) == (S.PENDING, 0)
    assert len(bodies(chat_server, "/down")) == 1


def test_stale_claims_are_taken_again_fresh_ones_are_not(app, chat_server, slack):
    _destination_id, post_id = slack
    chat_server.expect_request("/slack").respond_with_data("ok")
    row = _post(post_id)
    row.status, row.claimed_at = S.SENDING, T0 - timedelta(seconds=30)
    db.session.commit()
    assert delivery.deliver_posts(T0).processed == 0  # another process is on it

    row = _post(post_id)
    row.claimed_at = T0 - timedelta(seconds=delivery.lease_seconds() + 1)
    db.session.commit()
    assert delivery.deliver_posts(T0).done == 1
    assert _post(post_id).status is S.SENT


@pytest.mark.parametrize("first", ["stale", "current"])
def test_only_the_current_claimer_records_its_outcome(chat_server, slack, first):
    """A claimer slower than the lease lost the row to another: whichever answers first, the
    post and the destination show the current claimer's outcome only."""
    destination_id, post_id = slack
    chat_server.expect_oneshot_request("/slack").respond_with_data("rollup_error", status=500)
    chat_server.expect_oneshot_request("/slack").respond_with_data("ok")
    provider = get_provider("slack")
    stale = delivery.claim(T0)
    later = T0 + timedelta(seconds=delivery.lease_seconds() + 1)
    assert delivery.claim(T0 + timedelta(seconds=30)) is None  # the claim holds for its lease
    current = delivery.claim(later)  # taken again: the first claimer looks dead
    assert (stale.id, current.id, stale.claimed_at, current.claimed_at) == (
        post_id, post_id, T0, later)
    stale_answer = provider.post(stale.url, stale.payload, timeout=5)
    current_answer = provider.post(current.url, current.payload, timeout=5)
    assert (stale_answer.code, current_answer.code) == (500, 200)

    if first == "stale":
        assert delivery.record(stale, stale_answer, later) is None
        assert _post(post_id).status is S.SENDING  # still the current claimer's
        assert delivery.record(current, current_answer, later) is S.SENT
    else:
        assert delivery.record(current, current_answer, later) is S.SENT
        assert delivery.record(stale, stale_answer, later) is None

    row = _post(post_id)
    assert (row.status, row.attempts, row.response_code, row.response_text, row.sent_at,
            row.next_attempt_at, row.claimed_at) == (S.SENT, 1, 200, "ok", later, None, None)
    destination = _destination(destination_id)
    assert (destination.last_success_at, destination.last_failure,
            destination.last_failure_at) == (later, None, None)
    assert delivery.deliver_posts(later + timedelta(days=1)).processed == 0  # never again


@pytest.mark.parametrize("kind", ["slack", "teams"])
@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failure_and_never_followed(chat_server, kind, code):
    chat_server.expect_request("/hook").respond_with_data(
        "moved", status=code, headers={"Location": chat_server.url_for("/elsewhere")})
    chat_server.expect_request("/elsewhere").respond_with_data("ok")
    destination = make_destination(chat_server.url_for("/hook"), kind=kind)
    post = make_post(destination)
    db.session.commit()

    stats = delivery.deliver_posts(T0)

    assert (stats.failed, stats.done) == (1, 0)
    assert [request.path for request, _answer in chat_server.log] == ["/hook"]
    row = _post(post.id)
    assert (row.status, row.attempts, row.response_code, row.response_text) == (
        S.FAILED, 1, code, "moved")
    assert _destination(destination.id).last_failure == f"{code} moved"


def test_inactive_destinations_wait_but_test_posts_go(chat_server):
    chat_server.expect_request("/off").respond_with_data("ok")
    off = make_destination(chat_server.url_for("/off"), active=False)
    waiting = make_post(off, key="edition:1")
    test = make_post(off, key="test:1", event="test")
    db.session.commit()
    assert delivery.deliver_posts(T0).done == 1
    assert (_post(waiting.id).status, _post(test.id).status) == (S.PENDING, S.SENT)


def test_the_scheduler_job_is_registered_and_posts(app, chat_server, slack):
    from app.jobs import registered_jobs

    job = next(j for j in registered_jobs() if j.id == "chat")
    assert job.every == "SCHEDULER_CHAT_SECONDS"
    chat_server.expect_request("/slack").respond_with_data("ok")
    stats = job.run(lambda: False)
    assert stats.done == 1 and len(chat_server.log) == 1
    assert job.run(lambda: True).processed == 0  # a stopping scheduler takes nothing


def test_the_job_prunes_sent_posts_past_the_keep_period_only(app, chat_server):
    slack = make_destination(chat_server.url_for("/slack"), kind="slack")
    keep = app.config["CHAT_KEEP_DAYS"]
    old = T0 - timedelta(days=keep, seconds=1)
    edge = T0 - timedelta(days=keep)
    gone = make_post(slack, key="a", status=S.SENT, sent_at=old)
    kept = make_post(slack, key="b", status=S.SENT, sent_at=edge)
    failed = make_post(slack, key="c", status=S.FAILED, attempts=8, created_at=old)
    ids = (gone.id, kept.id, failed.id)
    db.session.commit()  # ends the test's snapshot: the job deletes on its own connection
    assert delivery.run_chat(T0).pruned == 1
    assert [db.session.get(ChatPost, i) is not None for i in ids] == [False, True, True]


@pytest.mark.parametrize(("value", "expected"), [
    ("120", 120.0), (" 5 ", 5.0), ("0", 0.0), ("-3", 0.0), ("1.5", 1.5),
    (str(10 ** 9), RETRY_AFTER_MAX), ("soon", None), ("", None), (None, None), ("nan", None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: now
])
def test_retry_after_values(value, expected):
    assert parse_retry_after(value) == expected


def test_retry_after_http_date_in_the_future():
    later = datetime.now(UTC) + timedelta(seconds=600)
    seconds = parse_retry_after(format_datetime(later, usegmt=True))
    assert 598 <= seconds <= 600
