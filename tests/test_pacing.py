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


# -- claims: a dead sender's, and a live one held through a long wait ------------------------------


def test_a_stale_claim_does_not_hold_the_cap_for_ever(app, smtp):
    """A sender crashed two hours ago holding one row: with a cap of 1 per hour that claim
    must not fill the window for ever; it is released, sent again, and the cap works on."""
    set_relay_limits(cap=1, window_hours=1)
    edition = seed_edition(recipients=3)
    db.session.commit()
    edition_id = edition.id
    t0 = utcnow().replace(microsecond=0)
    total = _started(edition_id, t0 - 2 * HOUR)
    row = db.session.scalars(sa.select(Delivery).where(Delivery.edition_id == edition_id)
                             .order_by(Delivery.id).limit(1)).one()
    row.status, row.claimed_at = DeliveryStatus.SENDING, t0 - 2 * HOUR
    db.session.commit()
    assert pacing.used_in_window(db.session, pacing.current_limits(), t0) == 0  # not live

    stats = sending.send_pending(edition_id, now=t0)
    assert stats.sent == 1 and stats.capped and stats.capped_until == t0 + HOUR
    assert _statuses(edition_id) == {DeliveryStatus.SENT: 1, DeliveryStatus.PENDING: total - 1}
    estimate = queries.send_estimate(db.session.get(Edition, edition_id), total - 1, now=t0)
    assert estimate is not None and estimate.paused_until == t0 + HOUR  # not "within a minute"

    for hour in range(1, total):  # one an hour, as the cap says, until everyone has it
        assert sending.send_pending(edition_id, now=t0 + hour * HOUR + timedelta(seconds=1)
                                    ).sent == 1
    assert _statuses(edition_id) == {DeliveryStatus.SENT: total}
    assert sum(_received(smtp).values()) == total and max(_received(smtp).values()) == 1


def _two_senders_one_long_wait(app, monkeypatch, *, rate: float, ahead: float) -> dict:
    """The reviewer's case: a 2 s lease; sender A's first slot is `ahead` seconds away; B
    starts 3 s after A, when A's claim is older than the lease."""
    app.config["NEWSLETTER_CLAIM_TIMEOUT_SECONDS"] = 2
    set_relay_limits(rate=rate)
    edition = seed_edition(recipients=1)
    db.session.commit()
    edition_id = edition.id
    total = _started(edition_id, utcnow())
    db.session.merge(SendPacing(name=pacing.RELAY, next_at=utcnow() + timedelta(seconds=ahead)))
    db.session.commit()
    out: dict[str, sending.SendStats] = {}
    errors: list[BaseException] = []

    def run(name: str, delay: float) -> None:
        time.sleep(delay)  # B starts late on purpose (not a timing assertion)
        with app.app_context():
            try:
                out[name] = sending.send_pending(edition_id, worker_id=name)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=("A", 0)),
               threading.Thread(target=run, args=("B", 3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads) and not errors, errors
    return {"total": total, "stats": out, "edition_id": edition_id}


def test_a_long_wait_for_the_rate_slot_never_sends_a_message_twice(app, smtp, monkeypatch,
                                                                     caplog):
    """The reviewer's repro: a slot 6 s ahead, a 2 s lease. The booking is further ahead than
    a claim may wait (under half the lease), so it is taken for stale; nobody gets two."""
    run = _two_senders_one_long_wait(app, monkeypatch, rate=0.2, ahead=6)
    received = _received(smtp)
    assert sum(received.values()) == run["total"] and max(received.values()) == 1
    assert _statuses(run["edition_id"]) == {DeliveryStatus.SENT: run["total"]}
    assert sum(s.sent for s in run["stats"].values()) == run["total"]


def test_a_sender_waiting_for_its_slot_renews_its_claims(app, smtp, monkeypatch, caplog):
    """Waits longer than the lease (the queue limit lifted): A renews its claims every
    lease / 4 while it waits, so B never takes them for abandoned; everyone gets one."""
    monkeypatch.setattr(pacing, "_queue_limit", lambda *a: timedelta(hours=1))
    run = _two_senders_one_long_wait(app, monkeypatch, rate=1, ahead=6)
    received = _received(smtp)
    assert sum(received.values()) == run["total"] and max(received.values()) == 1
    assert _statuses(run["edition_id"]) == {DeliveryStatus.SENT: run["total"]}
    assert run["stats"]["A"].sent >= 1  # A sent what it held through the wait
    assert "stale claim(s) released" not in caplog.text
    assert "taken by another sender" not in caplog.text


def test_rows_another_sender_took_are_dropped_not_sent(app, smtp, monkeypatch, caplog):
    """Without renewal in the wait (here switched off), B releases A's claim as stale and
    sends it; A's renewal before sending finds the row no longer its own and drops it."""
    monkeypatch.setattr(pacing, "_queue_limit", lambda *a: timedelta(hours=1))
    monkeypatch.setattr(pacing, "RENEW_FRACTION", 1e-9)  # renew every ~forever
    run = _two_senders_one_long_wait(app, monkeypatch, rate=1, ahead=6)
    received = _received(smtp)
    assert sum(received.values()) == run["total"] and max(received.values()) == 1
    assert _statuses(run["edition_id"]) == {DeliveryStatus.SENT: run["total"]}
    assert "stale claim(s) released" in caplog.text  # B did take A's row
    assert "taken by another sender" in caplog.text  # and A did not send it


def test_the_queue_limit_stays_under_half_the_lease():
    slow = pacing.Limits(rate=0.01, cap=0, window_hours=24)
    assert pacing._queue_limit(slow, 1, timedelta(seconds=300)) < timedelta(seconds=150)
    usual = pacing.Limits(rate=0.5, cap=0, window_hours=24)
    assert pacing._queue_limit(usual, 1, timedelta(seconds=300)) == timedelta(seconds=60)


def test_a_wall_clock_set_back_does_not_lengthen_the_wait(monkeypatch):
    start_at = utcnow() + timedelta(seconds=0.3)
    readings = iter([utcnow()])
    monkeypatch.setattr(pacing, "utcnow", lambda: next(readings, utcnow() - HOUR))
    renewals: list[float] = []
    began = time.monotonic()
    assert pacing.wait_for_slot(start_at, None, lambda: renewals.append(1) or True, 0.05)
    assert time.monotonic() - began < 2  # the slot, not an hour later
    assert len(renewals) >= 3  # renewed every 0.05 s of a 0.3 s wait


def test_a_wait_ends_when_the_claims_are_lost():
    began = time.monotonic()
    assert not pacing.wait_for_slot(utcnow() + HOUR, None, lambda: False, 0.05)
    assert time.monotonic() - began < 2


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


def test_estimate_names_the_year_when_it_is_not_this_one(app):
    """A cap of 10 a week and nothing sent yet: 30 messages take three windows (two weeks
    on, still this year); 50 take five (into next year)."""
    set_relay_limits(cap=10, window_hours=168)
    this_year = _estimate(30)
    assert this_year.finish_at == NOW + timedelta(weeks=2)
    assert this_year.text("UTC") == (
        "With the 10-per-168-hours cap, the last messages go out on 21 Dec around 08:18 (UTC).")
    next_year = _estimate(50)
    assert next_year.finish_at == NOW + timedelta(weeks=4)
    assert next_year.text("UTC") == (
        "With the 10-per-168-hours cap, the last messages go out on 4 Jan 2027 around 08:18 "
        "(UTC).")


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
