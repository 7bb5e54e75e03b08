"""Sending within the mail relay's limits (app.newsletter.pacing), against the real SMTP server.

The cap is counted from delivery rows, so two senders (threads, each with its own app context,
session and connections) share it exactly; the clock is the test's (`now`), so the window's
passing is shown without waiting an hour. The rate across two processes is in
test_pacing_processes.py.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from app.extensions import db
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import Edition
from app.models import EditionStatus
from app.models import SendPacing
from app.models import utcnow
from app.newsletter import jobs
from app.newsletter import pacing
from app.newsletter import queries
from app.newsletter import sending
from app.settings import get_settings
from app.settings import set_settings
from tests.fixtures.pacing import set_relay_limits
from tests.fixtures.smtp import SMTPServer
from tests.fixtures.smtp import configure_app_for
from tests.helpers_sender import seed_edition
from tests.test_admin import GOOD_SETTINGS

HOUR = timedelta(hours=1)


@pytest.fixture
def smtp(app, smtp_server: SMTPServer) -> SMTPServer:
    configure_app_for(app, smtp_server)
    return smtp_server


def _received(server: SMTPServer) -> Counter:
    return Counter(a for m in server.messages if m.message["List-Id"] for a in m.rcpt_tos)


def _rows(edition_id: int) -> list[Delivery]:
    db.session.rollback()  # see what the sender threads committed
    return list(db.session.scalars(sa.select(Delivery).where(Delivery.edition_id == edition_id)))


def _statuses(edition_id: int) -> Counter:
    return Counter(r.status for r in _rows(edition_id))


def _together(app, count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` in `count` threads at once, each in an app context of its own."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                results[index] = work(index)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a sender never finished"
    if errors:
        raise errors[0]
    return results


def _started(edition_id: int, now: datetime) -> int:
    assert sending.claim_edition(edition_id, now=now)
    report = sending.create_deliveries(db.session.get(Edition, edition_id), now=now)
    assert report is not None
    return report.count


# -- (b) the cap: exact with two senders, pauses, resumes by itself --------------------------------


def test_cap_pauses_and_resumes_with_two_senders_nothing_lost_or_repeated(
    app, smtp, editor_client
):
    set_relay_limits(cap=100, window_hours=1)
    edition = seed_edition(recipients=246)  # + the story's three people and the editor: 250
    db.session.commit()
    edition_id, number = edition.id, edition.number
    t0 = utcnow().replace(microsecond=0)
    total = _started(edition_id, t0)
    assert total == 250

    def senders_at(now: datetime) -> list[sending.SendStats]:
        return _together(app, 2, lambda i: sending.send_pending(
            edition_id, now=now, worker_id=f"w{i}", batch_size=7))

    # Both senders claim small batches side by side: exactly the cap goes out, no more.
    first = senders_at(t0)
    assert sum(s.sent for s in first) == 100
    assert sum(_received(smtp).values()) == 100
    assert _statuses(edition_id) == {DeliveryStatus.SENT: 100, DeliveryStatus.PENDING: 150}
    assert all(s.capped and s.capped_until == t0 + HOUR for s in first)

    # The edition page and its progress JSON say it is paused, and until when.
    zone = get_settings("timezone")["timezone"]
    page = editor_client.get(f"/editions/{number}").get_data(as_text=True)
    assert ("Paused: the relay’s limit of 100 messages per 1 hour is reached; resumes by "
            f"itself at {(t0 + HOUR).astimezone(queries.ZoneInfo(zone)):%H:%M} ({zone})") in page
    upcoming = editor_client.get("/editions/upcoming").get_data(as_text=True)
    assert "Paused: the relay’s limit of 100 messages per 1 hour is reached" in upcoming
    assert upcoming.count("data-send-capped>") == 1  # shown, on the sending card
    progress = editor_client.get(f"/editions/{number}/progress").get_json()
    assert progress["pending"] == 150 and progress["paused"].startswith("Paused: the relay’s")
    assert progress["paused_until"] == (t0 + HOUR).isoformat()

    # Half an hour later the window is still full: nothing more goes out (and no connection).
    connections = smtp.count_connections
    later = senders_at(t0 + HOUR / 2)
    assert sum(s.sent for s in later) == 0 and all(s.capped for s in later)
    assert sum(_received(smtp).values()) == 100
    assert smtp.count_connections == connections

    # Once the first hundred age out, the deliver job (two schedulers) sends the next hundred.
    t1 = t0 + HOUR + timedelta(seconds=1)
    runs = _together(app, 2, lambda i: jobs.deliver(t1, worker_id=f"scheduler{i}"))
    assert sum(r.stats.sent for results in runs for r in results) == 100
    assert sum(_received(smtp).values()) == 200
    db.session.rollback()
    assert db.session.get(Edition, edition_id).status == EditionStatus.SENDING

    # And the last fifty an hour later; the edition is then sent.
    t2 = t1 + HOUR + timedelta(seconds=1)
    runs = _together(app, 2, lambda i: jobs.deliver(t2, worker_id=f"scheduler{i}"))
    assert sum(r.stats.sent for results in runs for r in results) == 50

    rows = _rows(edition_id)
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    received = _received(smtp)
    assert set(received) == {r.email for r in rows} and len(rows) == total
    assert max(received.values()) == 1, [a for a, n in received.items() if n > 1]
    assert Counter(r.sent_at for r in rows) == {t0: 100, t1: 100, t2: 50}
    assert db.session.get(Edition, edition_id).status == EditionStatus.SENT


def test_the_cap_counts_every_edition_in_the_window(app, smtp):
    """Messages of another edition sent 59 minutes ago use up the window too."""
    set_relay_limits(cap=30, window_hours=1)
    edition = seed_edition(recipients=40)
    db.session.commit()
    t0 = utcnow().replace(microsecond=0)
    _started(edition.id, t0 - timedelta(minutes=59))
    earlier = sending.send_pending(edition.id, now=t0 - timedelta(minutes=59), batch_size=8)
    assert earlier.sent == 30 and earlier.capped

    assert sending.send_pending(edition.id, now=t0).sent == 0  # still within the hour
    resumed = sending.send_pending(edition.id, now=t0 + timedelta(minutes=1), batch_size=8)
    assert resumed.sent == 13 and not resumed.capped
    assert _statuses(edition.id) == {DeliveryStatus.SENT: 43}


# -- (c) a graceful stop during a long wait for the rate slot ------------------------------------


def test_stop_during_a_long_pacing_wait_returns_promptly_with_the_rest_pending(app, smtp):
    set_relay_limits(rate=0.05)  # one message every 20 s
    edition = seed_edition(recipients=5)
    db.session.commit()
    edition_id = edition.id
    _started(edition_id, utcnow())
    # Another sender booked the relay for the next two minutes.
    db.session.merge(SendPacing(name=pacing.RELAY, next_at=utcnow() + 2 * HOUR / 60))
    db.session.commit()
    stop = threading.Event()
    outcome: list[sending.SendStats] = []

    def run() -> None:
        with app.app_context():
            try:
                outcome.append(sending.send_pending(edition_id, should_stop=stop.is_set))
            finally:
                db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 20
    while DeliveryStatus.SENDING not in _statuses(edition_id):  # a slice claimed: it waits
        assert time.monotonic() < deadline and thread.is_alive(), "the sender never waited"
        time.sleep(0.02)
    asked = time.monotonic()
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert time.monotonic() - asked < 1.0
    assert outcome[0].stopped == "shutting down" and outcome[0].sent == 0
    assert _statuses(edition_id) == {DeliveryStatus.PENDING: 8}  # the slice went back
    assert not _received(smtp)


def test_without_limits_the_sender_never_touches_the_pacing_row(app, smtp):
    edition = seed_edition(recipients=20)
    db.session.commit()
    _started(edition.id, utcnow())
    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        stats = sending.send_pending(edition.id, batch_size=5)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert stats.sent == 23
    assert statements and not [s for s in statements if "send_pacing" in s]
    assert not [s for s in statements if "sent_at >" in s]  # no window count either


# -- (d) the estimate ----------------------------------------------------------------------------


NOW = datetime(2026, 12, 7, 8, 18, 20, tzinfo=UTC)  # a Monday, 09:18 in Paris


def _estimate(pending: int) -> queries.SendEstimate:
    edition = db.session.scalar(sa.select(Edition)) or seed_edition()
    estimate = queries.send_estimate(edition, pending, now=NOW)
    assert estimate is not None
    return estimate


def test_estimate_at_the_rate(app):
    set_settings({"timezone": "Europe/Paris"}, actor=None)
    set_relay_limits(rate=14)
    estimate = _estimate(109_200)  # 7,800 s
    assert estimate.finish_at == NOW + timedelta(seconds=7_800)
    assert estimate.text("Europe/Paris") == (
        "About 2 h 10 min of sending: the last messages go out around 11:28 (Europe/Paris).")
    assert estimate.paused_text("Europe/Paris") is None
    edition = db.session.scalar(sa.select(Edition))
    assert queries.send_estimate(edition, 0, now=NOW) is None


def test_estimate_with_a_daily_cap_goes_into_tomorrow(app):
    set_relay_limits(rate=2, cap=10_000, window_hours=24)
    # 10,000 at 2 a second (5,000 s), then the 10,001st waits for the first to age out
    # (24 h after now), and the last 5,600 take 2,800 s more.
    estimate = _estimate(15_600)
    assert estimate.cap_binds and not estimate.capped
    assert estimate.finish_at == NOW + timedelta(hours=24, seconds=2_800)
    assert estimate.text("Europe/Paris") == (
        "About 2 h 10 min of sending; with the 10,000-a-day cap, the last messages go out "
        "tomorrow around 10:05 (Europe/Paris).")


def test_estimate_when_the_cap_is_reached_says_when_it_resumes(app):
    set_relay_limits(cap=100, window_hours=1)
    edition = seed_edition()
    db.session.flush()
    rows = [{"edition_id": edition.id, "email": f"p{i}@example.com", "status":
             DeliveryStatus.SENT, "attempts": 1, "message_id": f"<m{i}@x>", "created_at": NOW,
             "sent_at": NOW - timedelta(minutes=10) + timedelta(seconds=i)} for i in range(100)]
    db.session.execute(sa.insert(Delivery), rows)
    db.session.commit()
    estimate = queries.send_estimate(edition, 150, now=NOW)
    assert estimate is not None and estimate.capped
    assert estimate.paused_until == NOW + timedelta(minutes=50)  # the oldest leaves the window
    assert estimate.paused_text("UTC") == (
        "Paused: the relay’s limit of 100 messages per 1 hour is reached; resumes by itself "
        "at 09:08 (UTC).")
    # No rate: sending takes no time, the cap's windows decide. The 250th message is the 50th of
    # the window opening 10 min + 2 h after the first hundred left, i.e. 1 h 50 min from now.
    assert estimate.finish_at == NOW + timedelta(hours=1, minutes=50, seconds=49)
    assert estimate.text("UTC") == (
        "With the 100-per-1-hour cap, the last messages go out around 10:09 (UTC).")
    assert pacing.frees_at(db.session, pacing.current_limits(), NOW, 100) == estimate.paused_until


# -- the admin's settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("send_rate_per_second", "fast", "Not a valid float value"),
        ("send_rate_per_second", "20000", "between 0.01 and 10,000"),
        ("send_rate_per_second", "0.001", "between 0.01 and 10,000"),
        ("send_cap_messages", "-5", "between 0 and"),
        ("send_cap_messages", "10k", "Not a valid integer value"),
        ("send_cap_window_hours", "0", "between 1 and 168"),
        ("send_cap_window_hours", "200", "between 1 and 168"),
    ],
)
def test_relay_limits_validation_keeps_the_typed_text(admin_client, field, value, message):
    response = admin_client.post("/admin/settings", data={**GOOD_SETTINGS, field: value})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page and f'value="{value}"' in page
    assert "Mail relay limits" in page
    assert get_settings(*pacing.KEYS) == {"send_rate_per_second": 0.0, "send_cap_messages": 0,
                                          "send_cap_window_hours": 24}


def test_relay_limits_are_saved(admin_client):
    page = admin_client.get("/admin/settings").get_data(as_text=True)
    assert "Mail relay limits" in page and "30 messages a minute" in page
    response = admin_client.post("/admin/settings", data={
        **GOOD_SETTINGS, "send_rate_per_second": "0.5", "send_cap_messages": "10000",
        "send_cap_window_hours": "24"})
    assert response.status_code == 302
    assert pacing.current_limits() == pacing.Limits(rate=0.5, cap=10_000, window_hours=24)
