"""Sending editions through a real SMTP server (aiosmtpd on loopback), with a controllable clock.

End to end from the scheduler's tick to parsed messages, the failure modes of a real mail server
(4xx for a while, 5xx for one address, dropped connections, no server at all), resuming from the
rows, recipients, "send now", test sends, publishing and notifications.
"""

from __future__ import annotations

import socket
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import Edition
from app.models import EditionStatus
from app.models import Role
from app.models import Setting
from app.models import SubmissionStatus
from app.models import User
from app.newsletter import jobs
from app.newsletter import sending
from app.settings import set_settings
from tests import factories
from tests.fixtures.smtp import SMTPServer
from tests.fixtures.smtp import configure_app_for
from tests.helpers_sender import seed_edition
from tests.helpers_sender import seed_recipients

FRIDAY_0900_PARIS = datetime(2026, 3, 27, 8, 0, tzinfo=UTC)  # CET, the week before DST
CREATED = datetime(2026, 3, 23, 9, 0, tzinfo=UTC)


def schedule(*, weekday: int = 4, at: str = "09:00", tz: str = "Europe/Paris",
             changed_at: datetime = CREATED - timedelta(days=30)) -> None:
    set_settings({"send_weekday": weekday, "send_time": at, "timezone": tz}, actor=None)
    db.session.flush()
    db.session.execute(sa.update(Setting).values(updated_at=changed_at))
    db.session.commit()


def newsletter_messages(server: SMTPServer) -> list:
    return [m for m in server.messages if m.message["List-Id"]]


def receiving_addresses() -> list[str]:
    return sorted(db.session.scalars(
        sa.select(User.email).where(User.is_active_user.is_(True), User.email_opt_out.is_(False))
    ))


def deliveries(edition_id: int) -> list[Delivery]:
    db.session.expire_all()
    return list(db.session.scalars(
        sa.select(Delivery).where(Delivery.edition_id == edition_id).order_by(Delivery.id)
    ))


@pytest.fixture
def smtp(app, smtp_server: SMTPServer) -> SMTPServer:
    configure_app_for(app, smtp_server)
    return smtp_server


# -- end to end ------------------------------------------------------------------------------------


def test_weekly_send_end_to_end(app, smtp, client):
    set_settings({"track_clicks": False, "track_opens": False}, actor=None)  # links as typed
    schedule()
    editor = factories.make_user(Role.EDITOR, display_name="Dana Editor", email="dana@example.com")
    edition = seed_edition(status=EditionStatus.DRAFT, recipients=6, created_at=CREATED)
    db.session.commit()
    expected = receiving_addresses()

    jobs.tick(FRIDAY_0900_PARIS - timedelta(minutes=1))
    assert smtp.messages == []

    jobs.tick(FRIDAY_0900_PARIS + timedelta(seconds=20))
    received = newsletter_messages(smtp)
    assert sorted(a for m in received for a in m.rcpt_tos) == expected  # everyone, once
    rows = {d.email: d for d in deliveries(edition.id)}
    assert all(d.status == DeliveryStatus.SENT and d.sent_at for d in rows.values())

    for item in received:
        msg = item.message
        address = item.rcpt_tos[0]
        assert not any(part.defects for part in msg.walk()), msg.defects
        assert b"\r\n\r\n--=_fgf_" in item.raw  # headers, blank line, first MIME boundary
        assert msg.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in msg.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        assert msg["Subject"] == f"Feel Good Fridays #{edition.number}: A holiday saved"
        assert msg["Message-ID"] == rows[address].message_id
        assert msg["Date"].datetime is not None
        assert msg["List-Id"].endswith("<feel-good-fridays.example.com>")
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        https, mailto = (v.strip(" <>") for v in msg["List-Unsubscribe"].split(","))
        assert https.startswith("http://localhost/unsubscribe/")
        assert mailto == "mailto:feelgood@example.com?subject=unsubscribe"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        user = db.session.scalar(sa.select(User).where(User.email == address))
        assert f"Hi {user.first_name}," in text and f"Hi {user.first_name}," in html
        assert https in text and https.replace("&", "&amp;") in html
        assert f"http://localhost/editions/{edition.number}" in text

    # The one-click unsubscribe from the header works without login or CSRF token.
    victim = received[0]
    url = [v.strip(" <>") for v in victim.message["List-Unsubscribe"].split(",")][0]
    response = client.post(urlsplit(url).path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    db.session.expire_all()
    user = db.session.scalar(sa.select(User).where(User.email == victim.rcpt_tos[0]))
    assert user.email_opt_out and user.opted_out_at is not None

    # The edition is sent, its items published, the next one open.
    db.session.expire_all()
    edition = db.session.get(Edition, edition.id)
    assert edition.status == EditionStatus.SENT
    assert edition.sent_at == FRIDAY_0900_PARIS + timedelta(seconds=20)
    assert edition.recipients_count == edition.sent_count == len(expected)
    assert edition.iso_week == "2026-W13"
    assert edition.content_html and edition.web_html
    assert all(i.content.status == SubmissionStatus.PUBLISHED for i in edition.items)
    assert db.session.scalar(sa.select(Edition).where(Edition.status == EditionStatus.DRAFT))
    assert editor.email in expected

    # Notifications: one per person, after the commit.
    others = [m for m in smtp.messages if not m.message["List-Id"]]
    by_person = {}
    for m in others:
        by_person.setdefault(m.rcpt_tos[0], []).append(str(m.message["Subject"]))
    assert len(by_person["priya@example.com"]) == 1  # two items, one email
    assert "2 of your submissions" in by_person["priya@example.com"][0]
    assert len(by_person["noah@example.com"]) == 1
    assert "featured" in by_person["noah@example.com"][0]
    assert len(by_person["amina@example.com"]) == 1

    # A later tick sends nothing again.
    count = len(smtp.messages)
    jobs.tick(FRIDAY_0900_PARIS + timedelta(minutes=5))
    assert len(smtp.messages) == count


def test_send_now_is_picked_up_by_the_scheduler_not_the_request(app, smtp, editor_client, editor):
    edition = seed_edition(status=EditionStatus.DRAFT, recipients=3)
    db.session.commit()
    now = datetime(2026, 5, 5, 12, 0, tzinfo=UTC)
    sending.request_send_now(edition, editor, now=now)
    db.session.commit()
    assert edition.status == EditionStatus.SCHEDULED and edition.scheduled_at == now
    assert smtp.messages == []  # the request itself sends nothing
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "edition.send_now"))
    assert event.actor_id == editor.id

    jobs.deliver(now + timedelta(seconds=15))
    assert sorted(a for m in newsletter_messages(smtp) for a in m.rcpt_tos) == receiving_addresses()
    db.session.expire_all()
    assert db.session.get(Edition, edition.id).status == EditionStatus.SENT


def test_send_now_refuses_empty_and_sent_editions(app, editor):
    empty = seed_edition(status=EditionStatus.DRAFT, with_items=False)
    with pytest.raises(Exception, match="empty"):
        sending.request_send_now(empty, editor)
    sent = factories.make_edition(status=EditionStatus.SENT)
    with pytest.raises(Exception, match="sent"):
        sending.request_send_now(sent, editor)


def test_claim_is_atomic(app):
    edition = seed_edition()
    db.session.commit()
    assert sending.claim_edition(edition.id, worker_id="a") is True
    assert sending.claim_edition(edition.id, worker_id="b") is False
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "edition.start_sending")
    ).all()
    assert [e.details["worker"] for e in events] == ["a"]


def test_deliveries_are_created_once(app):
    edition = seed_edition(recipients=3)
    db.session.commit()
    assert sending.claim_edition(edition.id)
    first = sending.create_deliveries(edition)
    assert first is not None and first.count == len(receiving_addresses())
    assert sending.create_deliveries(edition) is None
    assert len(deliveries(edition.id)) == first.count


# -- the mail server misbehaves --------------------------------------------------------------------


def test_temporary_failures_are_retried_with_backoff(app, smtp):
    edition = seed_edition(recipients=6)
    db.session.commit()
    now = datetime(2026, 6, 5, 7, 0, tzinfo=UTC)
    smtp.fail_next_data(2, code=451)
    smtp.fail_next_data(1, code=452)  # (a 421 is the session's: tests/test_newsletter_outage.py)

    result = sending.run_edition(edition.id, now=now)
    assert result.stats.deferred == 3 and not result.finished
    waiting = [d for d in deliveries(edition.id) if d.status == DeliveryStatus.PENDING]
    assert len(waiting) == 3
    assert all(d.next_attempt_at == now + timedelta(seconds=60) for d in waiting)
    assert {d.last_error.split()[0] for d in waiting} == {"451", "452"}

    jobs.deliver(now + timedelta(seconds=30))  # not due yet
    assert len([d for d in deliveries(edition.id) if d.status == DeliveryStatus.PENDING]) == 3
    jobs.deliver(now + timedelta(seconds=61))
    assert {d.status for d in deliveries(edition.id)} == {DeliveryStatus.SENT}
    received = sorted(a for m in newsletter_messages(smtp) for a in m.rcpt_tos)
    assert received == receiving_addresses()  # each exactly once
    db.session.expire_all()
    assert db.session.get(Edition, edition.id).status == EditionStatus.SENT


def test_permanent_failure_marks_only_that_row(app, smtp, admin):
    edition = seed_edition(recipients=5)
    db.session.commit()
    smtp.refuse_rcpt["staff2@example.com"] = (550, "5.1.1 No such user")

    sending.run_edition(edition.id)
    rows = {d.email: d for d in deliveries(edition.id)}
    assert rows["staff2@example.com"].status == DeliveryStatus.FAILED
    assert "550" in rows["staff2@example.com"].last_error
    others = [d for e, d in rows.items() if e != "staff2@example.com"]
    assert {d.status for d in others} == {DeliveryStatus.SENT}
    db.session.expire_all()
    edition = db.session.get(Edition, edition.id)
    assert edition.status == EditionStatus.SENT and edition.failed_count == 1

    # An admin retries once the address is fixed; the scheduler resends, with the same content.
    smtp.refuse_rcpt.clear()
    assert sending.retry_failed(edition, admin) == 1
    db.session.commit()
    jobs.deliver()
    assert deliveries(edition.id)[2].status == DeliveryStatus.SENT
    db.session.expire_all()
    edition = db.session.get(Edition, edition.id)
    assert edition.failed_count == 0 and edition.sent_count == len(rows)
    resent = [m for m in newsletter_messages(smtp) if m.rcpt_tos == ["staff2@example.com"]]
    assert len(resent) == 1
    assert resent[0].message["Message-ID"] == rows["staff2@example.com"].message_id


def test_transient_failures_give_up_after_the_limit(app, smtp):
    app.config.update(NEWSLETTER_MAX_ATTEMPTS=2, NEWSLETTER_RETRY_BASE_SECONDS=1)
    edition = seed_edition(recipients=1)
    db.session.commit()
    now = datetime(2026, 6, 5, 7, 0, tzinfo=UTC)
    smtp.refuse_rcpt["staff0@example.com"] = (452, "4.2.2 Mailbox full")
    sending.run_edition(edition.id, now=now)
    sending.run_edition(edition.id, now=now + timedelta(seconds=2))
    row = next(d for d in deliveries(edition.id) if d.email == "staff0@example.com")
    assert row.status == DeliveryStatus.FAILED and row.attempts == 2
    db.session.expire_all()
    assert db.session.get(Edition, edition.id).status == EditionStatus.SENT


def test_dropped_connection_does_not_poison_the_batch(app, smtp):
    """A hang-up after the message's body was sent is that message's outcome (the server had
    it): one attempt charged, a fresh connection for the rest of the batch."""
    edition = seed_edition(recipients=4)
    db.session.commit()
    now = datetime(2026, 6, 5, 7, 0, tzinfo=UTC)
    smtp.drop_connection_next(1)
    result = sending.run_edition(edition.id, now=now)
    assert result.stats.deferred == 1 and result.stats.sent == len(receiving_addresses()) - 1
    assert result.stats.outage is None and not result.paused
    assert smtp.count_connections == 2  # reconnected once, then reused
    sending.run_edition(edition.id, now=now + timedelta(minutes=2))
    assert sorted(a for m in newsletter_messages(smtp) for a in m.rcpt_tos) == receiving_addresses()


def test_a_message_that_always_makes_the_server_hang_up_fails_alone(app, smtp):
    """Such a message must end `failed` after the attempt limit, never hold up the edition."""
    app.config["NEWSLETTER_MAX_ATTEMPTS"] = 3
    edition = seed_edition(recipients=4)
    db.session.commit()
    poison = receiving_addresses()[0]
    smtp.fail_data_for(poison, "drop", times=10)
    now = datetime(2026, 6, 5, 7, 0, tzinfo=UTC)
    for hour in range(4):
        sending.run_edition(edition.id, now=now + timedelta(hours=hour))
    rows = {d.email: d for d in deliveries(edition.id)}
    assert rows[poison].status == DeliveryStatus.FAILED and rows[poison].attempts == 3
    assert "connection lost after the message was sent" in rows[poison].last_error
    others = [r for a, r in rows.items() if a != poison]
    assert {r.status for r in others} == {DeliveryStatus.SENT}
    assert {r.attempts for r in others} == {1}
    db.session.refresh(edition)
    assert edition.status == EditionStatus.SENT and edition.send_paused_at is None


def test_unreachable_server_stops_the_pass_and_resumes_later(app, smtp):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    app.config["MAIL_PORT"] = closed_port
    edition = seed_edition(recipients=4)
    db.session.commit()
    now = datetime(2026, 6, 5, 7, 0, tzinfo=UTC)
    result = sending.run_edition(edition.id, now=now)
    assert result.stats.stopped and "cannot connect" in result.stats.stopped
    assert result.stats.processed == 0  # nobody is charged an attempt for the server's outage
    rows = deliveries(edition.id)
    assert {d.status for d in rows} == {DeliveryStatus.PENDING}
    assert sum(d.attempts for d in rows) == 0

    app.config["MAIL_PORT"] = smtp.port
    sending.run_edition(edition.id, now=now + timedelta(minutes=2))
    assert sorted(a for m in newsletter_messages(smtp) for a in m.rcpt_tos) == receiving_addresses()


def test_rows_abandoned_by_a_dead_sender_are_resumed(app, smtp):
    edition = seed_edition(recipients=4)
    db.session.commit()
    assert sending.claim_edition(edition.id)
    sending.create_deliveries(edition)
    now = datetime(2026, 6, 5, 7, 0, tzinfo=UTC)
    rows = deliveries(edition.id)
    # A crashed process: two rows sent, two claimed and never answered.
    for row, status in zip(rows[:4], ["sent", "sent", "sending", "sending"], strict=True):
        row.status = DeliveryStatus(status)
        row.claimed_at = now - timedelta(minutes=10)
    db.session.commit()

    jobs.deliver(now)
    received = sorted(a for m in newsletter_messages(smtp) for a in m.rcpt_tos)
    assert received == sorted(d.email for d in rows[2:])
    assert {d.status for d in deliveries(edition.id)} == {DeliveryStatus.SENT}


def test_live_claims_of_another_sender_are_left_alone(app, smtp):
    edition = seed_edition(recipients=2)
    db.session.commit()
    assert sending.claim_edition(edition.id)
    sending.create_deliveries(edition)
    now = datetime(2026, 6, 5, 7, 0, tzinfo=UTC)
    row = deliveries(edition.id)[0]
    row.status, row.claimed_at = DeliveryStatus.SENDING, now - timedelta(seconds=30)
    db.session.commit()
    result = sending.run_edition(edition.id, now=now)
    assert row.email not in [a for m in newsletter_messages(smtp) for a in m.rcpt_tos]
    assert not result.finished and result.open_deliveries == 1


# -- recipients ------------------------------------------------------------------------------------


def test_recipients_are_deduplicated_and_invalid_ones_reported(app, smtp):
    seed_recipients(2)
    factories.make_user(email="gone@example.com", active=False)
    factories.make_user(email="quiet@example.com", email_opt_out=True)
    factories.make_user(email="broken@localhost")  # an address no relay would take
    set_settings({"extra_recipients": ["All-Staff@Example.com", "STAFF0@example.com",
                                       "quiet@example.com", "all-staff@example.com"]}, actor=None)
    edition = seed_edition()
    db.session.commit()

    result = sending.run_edition(edition.id)
    report = result.created
    assert report.invalid == ["broken@localhost"] and report.invalid_count == 1
    assert report.duplicates == 1  # staff0 is already on the list as an account
    assert report.excluded_extras == 1  # quiet@ unsubscribed: the list never overrides that
    assert report.extra == 1
    received = sorted(a for m in newsletter_messages(smtp) for a in m.rcpt_tos)
    assert "all-staff@example.com" in received and received.count("all-staff@example.com") == 1
    assert "gone@example.com" not in received and "quiet@example.com" not in received
    assert "broken@localhost" not in received
    assert received.count("staff0@example.com") == 1
    list_message = next(
        m for m in newsletter_messages(smtp) if m.rcpt_tos == ["all-staff@example.com"]
    )
    assert "Hi there," in list_message.message.get_body(("plain",)).get_content()
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "edition.recipients")
    )
    assert event.details["invalid"] == ["broken@localhost"]


# -- test sends, memory backend --------------------------------------------------------------------


def test_send_test_goes_to_the_editor_only(app, smtp, editor):
    seed_recipients(3)
    edition = seed_edition(status=EditionStatus.DRAFT)
    db.session.commit()
    result = sending.send_test(edition, editor)
    assert result.ok
    assert [m.rcpt_tos for m in smtp.messages] == [[editor.email]]
    msg = smtp.messages[0].message
    assert str(msg["Subject"]).startswith("[TEST] Feel Good Fridays #")
    assert "Hi Dana," in msg.get_body(("plain",)).get_content()
    assert edition.status == EditionStatus.DRAFT and not edition.content_html


def test_memory_backend_gets_ordinary_messages(app, outbox):
    edition = seed_edition(recipients=2)
    db.session.commit()
    sending.run_edition(edition.id)
    newsletters = [m for m in outbox if m["List-Id"]]
    assert len(newsletters) == len(receiving_addresses())
    body = newsletters[0].get_body(("html",)).get_content()
    assert "A late-night call" in body


def test_finishing_twice_publishes_and_notifies_once(app, smtp):
    edition = seed_edition(recipients=1)
    db.session.commit()
    sending.run_edition(edition.id)
    db.session.expire_all()
    edition = db.session.get(Edition, edition.id)
    count = len(smtp.messages)
    assert sending.finish_edition(edition) is False
    assert len(smtp.messages) == count
    drafts = db.session.scalars(sa.select(Edition).where(Edition.status == EditionStatus.DRAFT))
    assert len(drafts.all()) == 1


def test_authors_hear_what_editors_changed_once(app, smtp):
    from app.models import Revision

    edition = seed_edition(recipients=1)
    story = next(i.story for i in edition.items if i.story is not None)
    editor = factories.make_user(Role.EDITOR)
    base = {"title": "Original title", "body_md": story.body_md}
    db.session.add_all([
        Revision(object_type="story", object_id=story.id, number=1, data=base,
                 author_id=story.author_id, author_notified=True),
        Revision(object_type="story", object_id=story.id, number=2,
                 data={**base, "title": story.title}, author_id=editor.id, author_notified=False),
    ])
    db.session.commit()
    sending.run_edition(edition.id)
    [published] = [m for m in smtp.messages if m.rcpt_tos == ["priya@example.com"]
                   and not m.message["List-Id"]]
    text = published.message.get_body(("plain",)).get_content()
    assert "Original title" in text
    assert db.session.scalars(sa.select(Revision.author_notified)).all() == [True, True]


def test_a_failing_recorder_stops_the_sender_instead_of_hanging(app):
    from app.newsletter.sending import _Recorder

    failing = pytest.raises(RuntimeError, match="recording delivery outcomes failed")
    with failing, _Recorder(db.engine) as recorder:
        recorder.put({"b_id": 1, "b_status": "no-such-status", "b_attempts": 1,
                      "b_error": None, "b_next": None, "b_sent_at": None})
        recorder.flush()
