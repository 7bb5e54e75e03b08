"""Sending webhook deliveries to a real HTTP server on loopback: signed requests that the
`standardwebhooks` library verifies, retries with backoff and Retry-After, an outage longer than
the retry window, replay with the same webhook-id, 410 Gone, timeouts, redirects, stale claims,
and pruning."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa
from werkzeug import Response

from app.extensions import db
from app.models import WebhookDelivery
from app.models import WebhookDeliveryStatus
from app.models import WebhookEndpoint
from app.models import utcnow
from app.webhooks import delivery
from app.webhooks import services
from tests.fixtures.webhooks import make_delivery
from tests.fixtures.webhooks import make_endpoint
from tests.fixtures.webhooks import received
from tests.fixtures.webhooks import verified

S = WebhookDeliveryStatus
T0 = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)


def _fresh(model, row_id: int):
    """The row as stored now: the sending wrote through its own connections."""
    db.session.commit()
    return db.session.get(model, row_id)


def _row(row_id: int) -> WebhookDelivery:
    return _fresh(WebhookDelivery, row_id)


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    return _fresh(WebhookEndpoint, endpoint_id)


@pytest.fixture
def hook(webhook_server):
    endpoint = make_endpoint(webhook_server.url_for("/hook"))
    row = make_delivery(endpoint, created_at=T0)
    db.session.commit()
    return endpoint.id, row.id, endpoint.secret


def test_a_delivery_is_sent_signed_once_and_the_answer_recorded(webhook_server, hook):
    endpoint_id, row_id, secret = hook
    webhook_server.expect_request("/hook", method="POST").respond_with_data("thanks " * 400)

    stats = delivery.deliver()
    again = delivery.deliver()

    assert (stats.done, again.processed) == (1, 0)
    [request] = received(webhook_server, "/hook")
    assert verified(request, secret) == {"type": "edition.sent",
                                         "timestamp": "2026-12-04T09:00:00Z",
                                         "data": {"hello": "world"}}
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "FeelGoodFridays-Webhooks/1"
    row = _row(row_id)
    assert request.headers["webhook-id"] == row.message_id
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert (row.status, row.attempts, row.response_code) == (S.DELIVERED, 1, 200)
    assert row.delivered_at is not None and row.last_attempt_at == row.delivered_at
    assert 0 <= row.response_ms < 10_000
    assert len(row.response_text) == 1000 and row.response_text.endswith("…")  # trimmed
    endpoint = _endpoint(endpoint_id)
    assert endpoint.last_success_at == row.delivered_at and endpoint.last_failure_at is None


def test_500_then_200_is_retried_after_the_backoff_and_delivered(app, webhook_server, hook):
    endpoint_id, row_id, secret = hook
    webhook_server.expect_oneshot_request("/hook").respond_with_data("boom", status=500)
    webhook_server.expect_request("/hook").respond_with_data("ok")
    base = app.config["WEBHOOK_RETRY_BASE_SECONDS"]

    delivery.deliver(T0)
    row = _row(row_id)
    assert (row.status, row.attempts, row.response_code, row.response_text) == (
        S.PENDING, 1, 500, "boom")
    assert row.next_attempt_at == T0 + timedelta(seconds=base)
    assert _endpoint(endpoint_id).last_failure == "500 boom"

    assert delivery.deliver(T0 + timedelta(seconds=base - 1)).processed == 0  # not due yet
    stats = delivery.deliver(T0 + timedelta(seconds=base))

    assert stats.done == 1
    row = _row(row_id)
    assert (row.status, row.attempts, row.response_code) == (S.DELIVERED, 2, 200)
    first, second = received(webhook_server, "/hook")
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == row.message_id
    assert first.get_data() == second.get_data()
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) \
        == base


def test_retry_after_is_honoured(webhook_server, hook):
    _endpoint_id, row_id, _secret = hook
    webhook_server.expect_request("/hook").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "700"})
    delivery.deliver(T0)
    assert _row(row_id).next_attempt_at == T0 + timedelta(seconds=700)


def test_the_backoff_doubles_up_to_the_maximum(app):
    from app.outbound import retry_delay
    base, top = 30, 3 * 3600
    assert [retry_delay(n, base, top) for n in (1, 2, 3, 4, 9, 10, 60, 10_000)] == [
        30, 60, 120, 240, 7680, 10800, 10800, 10800]


def test_an_outage_longer_than_the_window_fails_then_replay_delivers_with_the_same_id(
        app, webhook_server, hook, admin):
    endpoint_id, row_id, secret = hook
    app.config.update(WEBHOOK_RETRY_BASE_SECONDS=60, WEBHOOK_RETRY_MAX_SECONDS=3600,
                      WEBHOOK_RETRY_WINDOW_SECONDS=24 * 3600)
    webhook_server.expect_request("/hook").respond_with_data("down", status=503)
    now, tries = T0, 0
    while True:
        stats = delivery.deliver(now)
        tries += stats.processed
        row = _row(row_id)
        if row.status is not S.PENDING:
            break
        assert row.next_attempt_at <= T0 + timedelta(days=1)
        now = row.next_attempt_at
    # 60, 120, … 1920, then hourly: 6 doubling waits (3,780 s) and 22 hours → 29 attempts.
    assert (row.status, row.attempts, tries) == (S.FAILED, 29, 29)
    assert row.next_attempt_at is None and row.response_code == 503
    assert len(received(webhook_server, "/hook")) == 29
    assert delivery.deliver(now + timedelta(days=2)).processed == 0  # failed stays failed

    webhook_server.clear()
    webhook_server.expect_request("/hook").respond_with_data("ok")
    services.replay(db.session.get(WebhookDelivery, row_id), actor=admin)
    db.session.commit()
    assert delivery.wait_for_deliveries(app, 30)

    row = _row(row_id)
    assert (row.status, row.attempts, row.response_code) == (S.DELIVERED, 1, 200)
    [request] = received(webhook_server, "/hook")
    assert request.headers["webhook-id"] == row.message_id
    verified(request, secret)


def test_410_gone_disables_the_endpoint_and_fails_the_delivery(webhook_server, hook):
    endpoint_id, row_id, _secret = hook
    other = make_delivery(db.session.get(WebhookEndpoint, endpoint_id), key="second")
    db.session.commit()
    webhook_server.expect_request("/hook").respond_with_data("gone", status=410)

    stats = delivery.deliver(T0)

    assert (stats.failed, stats.processed) == (1, 1)
    row = _row(row_id)
    assert (row.status, row.attempts, row.response_code) == (S.FAILED, 1, 410)
    endpoint = _endpoint(endpoint_id)
    assert endpoint.active is False and endpoint.last_failure == "410 gone"
    assert delivery.deliver(T0 + timedelta(days=1)).processed == 0  # an inactive endpoint waits
    assert _row(other.id).status is S.PENDING


def test_a_timeout_is_recorded_with_no_code(app, webhook_server, hook):
    _endpoint_id, row_id, _secret = hook
    app.config["WEBHOOK_TIMEOUT_SECONDS"] = 1

    answered = threading.Event()

    def slow(_request):
        time.sleep(2.5)
        answered.set()
        return Response("late")

    webhook_server.expect_request("/hook").respond_with_handler(slow)
    started = time.monotonic()
    delivery.deliver(T0)
    assert time.monotonic() - started < 2.4
    row = _row(row_id)
    assert (row.status, row.attempts, row.response_code) == (S.PENDING, 1, None)
    assert "timed out" in row.response_text
    assert 900 <= row.response_ms < 2400
    # The server logs a request when its handler returns: wait for it, or this late request
    # lands in the next test's log on the shared server (two stray "/hook" requests in CI runs).
    assert answered.wait(10)
    deadline = time.monotonic() + 5
    while not received(webhook_server, "/hook") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(received(webhook_server, "/hook")) == 1


def test_a_refused_connection_is_recorded_without_the_url(app, hook):
    endpoint_id, row_id, _secret = hook
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    endpoint.url = "http://127.0.0.1:9/secret-path-token?key=hush"
    db.session.commit()
    delivery.deliver(T0)
    row = _row(row_id)
    assert row.response_code is None and row.status is S.PENDING
    assert "secret-path" not in row.response_text and "hush" not in row.response_text


@pytest.mark.parametrize("code", [300, 301, 302, 303, 307, 308, 399])
def test_a_redirect_fails_at_once_never_followed_nor_retried(webhook_server, hook, code):
    endpoint_id, row_id, _secret = hook
    webhook_server.expect_request("/hook").respond_with_data(
        "moved", status=code, headers={"Location": webhook_server.url_for("/elsewhere")})
    webhook_server.expect_request("/elsewhere").respond_with_data("ok")
    stats = delivery.deliver(T0)
    assert (stats.failed, stats.deferred) == (1, 0)
    row = _row(row_id)
    assert (row.status, row.attempts, row.response_code, row.next_attempt_at) == (
        S.FAILED, 1, code, None)
    assert received(webhook_server, "/elsewhere") == []
    assert delivery.deliver(T0 + timedelta(days=2)).processed == 0  # never tried again
    assert len(received(webhook_server, "/hook")) == 1
    endpoint = _endpoint(endpoint_id)
    assert endpoint.active is True and endpoint.last_failure == f"{code} moved"


@pytest.mark.parametrize("code", [400, 404, 499, 500])
def test_other_refusals_are_still_retried(webhook_server, hook, code):
    _endpoint_id, row_id, _secret = hook
    webhook_server.expect_request("/hook").respond_with_data("no", status=code)
    delivery.deliver(T0)
    assert (_row(row_id).status, _row(row_id).attempts) == (S.PENDING, 1)


def test_one_failing_endpoint_does_not_hold_up_another(webhook_server):
    bad = make_endpoint(webhook_server.url_for("/bad"))
    good = make_endpoint(webhook_server.url_for("/good"))
    rows = [make_delivery(bad, key="1", created_at=T0), make_delivery(bad, key="2", created_at=T0),
            make_delivery(good, key="1", created_at=T0)]
    db.session.commit()
    webhook_server.expect_request("/bad").respond_with_data("no", status=500)
    webhook_server.expect_request("/good").respond_with_data("ok")

    stats = delivery.deliver(T0)

    assert (stats.done, stats.deferred) == (1, 1)  # the second /bad row waits a pass
    assert len(received(webhook_server, "/bad")) == 1
    assert [_row(r.id).status for r in rows] == [S.PENDING, S.PENDING, S.DELIVERED]


def test_a_stale_claim_is_taken_again_and_a_fresh_one_is_not(app, webhook_server, hook):
    _endpoint_id, row_id, _secret = hook
    webhook_server.expect_request("/hook").respond_with_data("ok")
    lease = delivery.lease_seconds()
    db.session.execute(sa.update(WebhookDelivery).where(WebhookDelivery.id == row_id)
                       .values(status=S.SENDING, claimed_at=T0))
    db.session.commit()
    assert delivery.deliver(T0 + timedelta(seconds=lease - 1)).processed == 0
    assert delivery.deliver(T0 + timedelta(seconds=lease + 1)).done == 1


def test_a_lost_claim_records_nothing(webhook_server, hook):
    _endpoint_id, row_id, _secret = hook
    claimed = delivery.claim(T0)
    assert claimed is not None and delivery.claim(T0) is None  # no double claim
    db.session.commit()  # a fresh snapshot after the claim's own connection wrote
    db.session.execute(sa.update(WebhookDelivery).where(WebhookDelivery.id == row_id)
                       .values(claimed_at=T0 + timedelta(hours=1)))  # taken again
    db.session.commit()
    sent = delivery.Sent(delivery.Answer(200, "ok"), 5, {})
    assert delivery.record(claimed, sent, T0) is None
    assert _row(row_id).attempts == 0


def test_prune_keeps_failed_and_recent_deliveries(app, webhook_server):
    endpoint = make_endpoint(webhook_server.url_for("/hook"))
    keep = app.config["WEBHOOK_KEEP_DAYS"]
    old = T0 - timedelta(days=keep + 1)
    rows = {
        "old delivered": make_delivery(endpoint, key="a", status=S.DELIVERED, created_at=old),
        "old failed": make_delivery(endpoint, key="b", status=S.FAILED, created_at=old),
        "new delivered": make_delivery(endpoint, key="c", status=S.DELIVERED, created_at=T0),
    }
    db.session.commit()
    assert delivery.prune(T0) == 1
    db.session.commit()
    left = set(db.session.scalars(sa.select(WebhookDelivery.dedupe_key)))
    assert left == {"b", "c"}
    assert rows


def test_a_test_delivery_goes_to_an_inactive_endpoint(webhook_server, admin):
    endpoint = make_endpoint(webhook_server.url_for("/hook"), active=False)
    db.session.commit()
    webhook_server.expect_request("/hook").respond_with_data("ok")
    row = services.record_test(endpoint, actor=admin)
    db.session.commit()
    message_id = row.message_id
    assert delivery.deliver(ids=[row.id]).done == 1
    # Only this delivery's requests (by webhook-id): the loopback server is shared, and a slow
    # handler of an earlier test once logged its request here late (the timeout test now waits).
    [request] = [r for r in received(webhook_server, "/hook")
                 if r.headers.get("webhook-id") == message_id]
    assert verified(request, endpoint.secret)["type"] == "webhook.test"


def test_created_at_default_is_now(webhook_server):
    endpoint = make_endpoint(webhook_server.url_for("/hook"))
    row = make_delivery(endpoint)
    db.session.commit()
    assert abs((_row(row.id).created_at - utcnow()).total_seconds()) < 60


# -- the address rule, again right before each attempt (app.outbound) ----------------------------


@pytest.fixture
def fake_dns(monkeypatch) -> dict[str, list[str]]:
    return answering(monkeypatch)


def answering(monkeypatch) -> dict[str, list[str]]:
    """socket.getaddrinfo answering the names put in the returned dict with their addresses,
    every other name as before (also used by test_webhooks_admin)."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host.lower() in answers:
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (a, port or 0)) for a in answers[host.lower()]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def _point(endpoint_id: int, url: str) -> None:
    """Store a URL as an older version (or a changed DNS record) may have left it."""
    db.session.execute(sa.update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
                       .values(url=url))
    db.session.commit()


@pytest.mark.app_config(WEBHOOK_REQUIRE_HTTPS=True)
def test_in_production_a_loopback_receiver_is_refused_without_a_request(webhook_server, hook):
    endpoint_id, row_id, _secret = hook
    webhook_server.expect_request("/hook").respond_with_data("ok")

    stats = delivery.deliver(T0)

    assert received(webhook_server, "/hook") == []
    assert (stats.done, stats.deferred) == (0, 1)
    row = _row(row_id)
    assert (row.status, row.attempts, row.response_code, row.response_ms) == (
        S.PENDING, 1, None, 0)
    assert row.response_text == "Not sent: 127.0.0.1 is this server (loopback)."
    assert row.last_attempt_at == T0 and row.next_attempt_at > T0  # retried like no answer
    assert _endpoint(endpoint_id).last_failure == row.response_text


def test_a_name_that_now_points_at_metadata_is_refused_at_send(webhook_server, hook, fake_dns):
    """The name also resolves to the loopback receiver (first): without the check, the POST
    would go there."""
    endpoint_id, row_id, _secret = hook
    webhook_server.expect_request("/hook").respond_with_data("ok")
    port = webhook_server.port
    fake_dns["rebound.example.com"] = ["127.0.0.1", "169.254.169.254"]
    _point(endpoint_id, f"http://rebound.example.com:{port}/hook")

    delivery.deliver(T0)

    assert received(webhook_server, "/hook") == []
    row = _row(row_id)
    assert (row.status, row.attempts, row.response_code) == (S.PENDING, 1, None)
    assert row.response_text == ("Not sent: rebound.example.com resolves to 169.254.169.254, "
                                 "which is link-local (where cloud metadata lives).")

    fake_dns["rebound.example.com"] = ["127.0.0.1"]  # the record fixed: the retry goes out
    assert delivery.deliver(row.next_attempt_at).done == 1
    assert len(received(webhook_server, "/hook")) == 1


@pytest.mark.parametrize(("url", "reason"), [
    ("http://2852039166/latest/", "2852039166 means 169.254.169.254, which is link-local"),
    ("http://0/", "0 means 0.0.0.0, which is an unspecified address"),
    ("http://0x7f.1/", "0x7f.1 means 127.0.0.1: write an IP address as four decimal numbers"),
    ("http://[::ffff:169.254.169.254]/", "::ffff:a9fe:a9fe (169.254.169.254) is link-local"),
    ("http://metadata.google.internal/computeMetadata/v1/",
     "metadata.google.internal is a cloud metadata service"),
    ("http://[::]:1/", ":: is an unspecified address"),
    ("http://nowhere.invalid/", "the host name is not found"),
])
def test_a_stored_url_the_rule_refuses_is_never_requested(hook, url, reason):
    endpoint_id, row_id, _secret = hook
    _point(endpoint_id, url)
    started = time.monotonic()
    delivery.deliver(T0)
    assert time.monotonic() - started < 5  # no connection was tried (no timeout waited)
    row = _row(row_id)
    assert (row.status, row.attempts, row.response_code) == (S.PENDING, 1, None)
    assert row.response_text.startswith(f"Not sent: {reason}")
