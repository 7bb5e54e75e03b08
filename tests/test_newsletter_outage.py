"""A mail server outage never fails an edition (issue 10), against the real aiosmtpd server.

Attempts are charged only for a recipient's own outcome (the reply to its RCPT or DATA). When the
server cannot be reached or refuses the session, the pass stops, the rows go back untouched and
the edition waits (`send_paused_at`, `send_retry_at`); editors see a banner after a while, and
`flask editions send` says so in its exit status.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import Edition
from app.models import EditionStatus
from app.models import Role
from app.models import SubmissionStatus
from app.models import User
from app.models import utcnow
from app.newsletter import jobs
from app.newsletter import sending
from tests.fixtures.smtp import SMTPServer
from tests.fixtures.smtp import configure_app_for
from tests.helpers_sender import seed_edition

T0 = datetime(2026, 6, 5, 7, 0, tzinfo=UTC)
BANNER = "has been unreachable since"
WAITING = "Waiting for the mail server"


@pytest.fixture
def smtp(app, smtp_server: SMTPServer) -> SMTPServer:
    configure_app_for(app, smtp_server)
    return smtp_server


def deliveries(edition_id: int) -> list[Delivery]:
    db.session.expire_all()
    return list(db.session.scalars(
        sa.select(Delivery).where(Delivery.edition_id == edition_id).order_by(Delivery.id)
    ))


def edition_row(edition_id: int) -> Edition:
    db.session.expire_all()
    return db.session.get(Edition, edition_id)


def newsletters_to(server: SMTPServer) -> dict[str, int]:
    """Newsletter messages (not notifications) received per address."""
    counts: dict[str, int] = {}
    for message in server.messages:
        if message.message["List-Id"]:
            for address in message.rcpt_tos:
                counts[address] = counts.get(address, 0) + 1
    return counts


def receiving_addresses() -> list[str]:
    return sorted(db.session.scalars(
        sa.select(User.email).where(User.is_active_user.is_(True), User.email_opt_out.is_(False))
    ))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def items_status(edition_id: int) -> set[SubmissionStatus]:
    return {entry.content.status for entry in edition_row(edition_id).items}


# -- a long outage, then recovery ------------------------------------------------------------------


def _greeting_421(app, smtp: SMTPServer) -> Callable[[], None]:
    smtp.refuse_greeting(421)
    return smtp.accept_greetings


def _nothing_listening(app, smtp: SMTPServer) -> Callable[[], None]:
    app.config["MAIL_PORT"] = closed_port()
    return lambda: app.config.update(MAIL_PORT=smtp.port)


@pytest.mark.parametrize("outage", [_greeting_421, _nothing_listening],
                         ids=["421-greeting", "nothing-listening"])
def test_an_outage_longer_than_the_retry_schedule_loses_and_charges_nothing(
    app, smtp, caplog, outage
):
    caplog.set_level(logging.INFO, logger="app.newsletter.sending")
    edition = seed_edition(recipients=4)
    db.session.commit()
    expected = receiving_addresses()
    recover = outage(app, smtp)
    max_attempts = app.config["NEWSLETTER_MAX_ATTEMPTS"]
    cap = timedelta(seconds=app.config["NEWSLETTER_OUTAGE_RETRY_MAX_SECONDS"])

    result = sending.run_edition(edition.id, now=T0)
    assert result.paused and result.stats.outage is not None and result.stats.processed == 0
    passes, previous = 1, T0
    # Past the whole per-recipient retry schedule, and past the alert threshold (30 minutes).
    while passes < 2 * max_attempts:
        paused = edition_row(edition.id)
        assert paused.status == EditionStatus.SENDING
        assert paused.send_paused_at == T0 and paused.send_pause_count == passes
        assert paused.send_retry_at - previous <= cap
        assert all(d.status == DeliveryStatus.PENDING and d.attempts == 0 and d.last_error is None
                   and d.next_attempt_at is None for d in deliveries(edition.id))
        assert items_status(edition.id) == {SubmissionStatus.APPROVED}  # not published
        before = smtp.count_connections
        assert jobs.deliver(paused.send_retry_at - timedelta(seconds=1)) == []  # not yet
        assert smtp.count_connections == before
        previous = paused.send_retry_at
        [result] = jobs.deliver(previous)
        assert result.paused and result.stats.processed == 0 and not result.finished
        if outage is _greeting_421:
            assert smtp.count_connections == before + 1  # one try per pass, not per recipient
        passes += 1
    assert previous - T0 > timedelta(minutes=30)
    assert newsletters_to(smtp) == {}

    recover()
    [result] = jobs.deliver(edition_row(edition.id).send_retry_at)
    assert result.finished and not result.paused
    assert newsletters_to(smtp) == dict.fromkeys(expected, 1)  # everyone, exactly once
    rows = deliveries(edition.id)
    assert all(d.status == DeliveryStatus.SENT and d.attempts == 1 for d in rows)
    sent = edition_row(edition.id)
    assert sent.status == EditionStatus.SENT and sent.sent_count == len(expected)
    assert sent.failed_count == 0
    assert sent.send_paused_at is None and sent.send_retry_at is None
    assert sent.send_pause_count == 0 and sent.send_pause_reason is None
    assert items_status(edition.id) == {SubmissionStatus.PUBLISHED}

    # One WARNING when the outage crossed the alert threshold; nothing louder, nothing per pass.
    records = [r for r in caplog.records if r.name == "app.newsletter.sending"]
    warnings = [r for r in records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "unavailable since" in warnings[0].getMessage()


def test_a_554_greeting_pauses_the_edition_with_a_clear_reason(app, smtp):
    edition = seed_edition(recipients=3)
    db.session.commit()
    smtp.refuse_greeting(554)
    cap = timedelta(seconds=app.config["NEWSLETTER_OUTAGE_RETRY_MAX_SECONDS"])
    now = T0
    for _ in range(2 * app.config["NEWSLETTER_MAX_ATTEMPTS"]):
        result = sending.run_edition(edition.id, now=now)
        assert result.paused and not result.finished
        paused = edition_row(edition.id)
        assert paused.send_retry_at - now <= cap  # it keeps trying, backing off up to the cap
        now = paused.send_retry_at
    assert paused.status == EditionStatus.SENDING
    assert "refused the session permanently" in paused.send_pause_reason
    assert "relay configuration" in paused.send_pause_reason
    assert "554" in paused.send_pause_reason
    rows = deliveries(edition.id)
    assert all(d.status == DeliveryStatus.PENDING and d.attempts == 0 for d in rows)
    assert paused.failed_count == 0 and newsletters_to(smtp) == {}


# -- mid-session replies ---------------------------------------------------------------------------


def test_data_replies_mid_session_affect_only_their_message_but_421_stops_the_pass(app, smtp):
    edition = seed_edition(recipients=6)
    db.session.commit()
    assert sending.claim_edition(edition.id, now=T0)
    sending.create_deliveries(edition, now=T0)
    rows = deliveries(edition.id)
    address = [d.email for d in rows]
    smtp.fail_data_for(address[1], 451)
    smtp.fail_data_for(address[2], 554)
    smtp.fail_data_for(address[5], 421)  # the server is closing the channel

    result = sending.run_edition(edition.id, now=T0)
    assert (result.stats.sent, result.stats.failed, result.stats.deferred) == (3, 1, 1)
    assert smtp.count_connections == 1  # 451 and 554 were RSET, the connection kept
    assert set(newsletters_to(smtp)) == {address[0], address[3], address[4]}
    rows = {d.email: d for d in deliveries(edition.id)}
    tempfail, rejected = rows[address[1]], rows[address[2]]
    assert tempfail.status == DeliveryStatus.PENDING and tempfail.attempts == 1
    assert tempfail.next_attempt_at == T0 + timedelta(seconds=60)
    assert tempfail.last_error.startswith("451")
    assert rejected.status == DeliveryStatus.FAILED and rejected.attempts == 1
    assert rejected.last_error.startswith("554")
    # The 421 is the session's: that recipient and the rest are untouched, the edition waits.
    for email in address[5:]:
        assert rows[email].status == DeliveryStatus.PENDING and rows[email].attempts == 0
        assert rows[email].next_attempt_at is None and rows[email].last_error is None
    paused = edition_row(edition.id)
    assert result.paused and paused.status == EditionStatus.SENDING
    assert paused.send_pause_reason.startswith("421")

    result = sending.run_edition(edition.id, now=T0 + timedelta(seconds=61))
    assert result.finished and not result.paused
    assert newsletters_to(smtp) == {a: 1 for a in address if a != address[2]}
    final = {d.email: d for d in deliveries(edition.id)}
    assert final[address[1]].attempts == 2 and final[address[5]].attempts == 1
    sent = edition_row(edition.id)
    assert sent.status == EditionStatus.SENT and sent.failed_count == 1
    assert sent.send_paused_at is None


def test_a_421_to_rcpt_stops_the_pass_without_charging_the_recipient(app, smtp):
    edition = seed_edition(recipients=3)
    db.session.commit()
    assert sending.claim_edition(edition.id, now=T0)
    sending.create_deliveries(edition, now=T0)
    address = [d.email for d in deliveries(edition.id)]
    smtp.refuse_rcpt[address[1]] = (421, "4.7.0 Too many connections, closing")

    result = sending.run_edition(edition.id, now=T0)
    assert result.paused and result.stats.sent == 1 and result.stats.processed == 1
    rows = deliveries(edition.id)
    assert rows[0].status == DeliveryStatus.SENT
    assert all(d.status == DeliveryStatus.PENDING and d.attempts == 0 for d in rows[1:])

    smtp.refuse_rcpt.clear()
    assert jobs.deliver(T0 + timedelta(seconds=29)) == []  # the edition waits its retry time
    [result] = jobs.deliver(T0 + timedelta(seconds=30))
    assert result.finished
    assert newsletters_to(smtp) == dict.fromkeys(address, 1)


# -- what editors and admins see -------------------------------------------------------------------


def _page_texts(client, number: int) -> tuple[int, str, int, str]:
    page = client.get(f"/editions/{number}")
    upcoming = client.get("/editions/upcoming")
    return page.status_code, page.get_data(as_text=True), upcoming.status_code, \
        upcoming.get_data(as_text=True)


def test_the_outage_banner_shows_after_the_alert_delay_to_curators_only(
    app, smtp, login_as, editor, admin, employee
):
    edition = seed_edition(recipients=2)
    db.session.commit()
    smtp.refuse_greeting(421)
    sending.run_edition(edition.id, now=utcnow() - timedelta(minutes=40))
    clients = {user.role: login_as(user) for user in (editor, admin, employee)}

    # Before the alert delay (60 minutes here): only the quiet note on the edition page.
    app.config["NEWSLETTER_OUTAGE_ALERT_MINUTES"] = 60
    for role in (Role.EDITOR, Role.ADMIN):
        status, page, upcoming_status, upcoming = _page_texts(clients[role], edition.number)
        assert status == upcoming_status == 200
        assert WAITING in page and BANNER not in page
        assert BANNER not in upcoming

    # Past it (the default 30 minutes): the banner, on both pages.
    app.config["NEWSLETTER_OUTAGE_ALERT_MINUTES"] = 30
    for role in (Role.EDITOR, Role.ADMIN):
        status, page, upcoming_status, upcoming = _page_texts(clients[role], edition.number)
        assert status == upcoming_status == 200
        for text in (page, upcoming):
            assert BANNER in text
            assert "Last error: cannot connect" in text and "421 4.3.2" in text
            assert "Next retry:" in text
            assert "Nothing is lost and no one is charged an attempt" in text
            assert "No email alert is sent" in text
        assert f"Edition #{edition.number}</a> is waiting for the mail server" in upcoming

    status, page, upcoming_status, upcoming = _page_texts(clients[Role.EMPLOYEE], edition.number)
    assert (status, upcoming_status) == (404, 403)
    assert BANNER not in page and BANNER not in upcoming


def test_the_outage_banner_on_a_sent_editions_retry_is_not_shown_to_employees(
    app, smtp, login_as, editor, admin, employee
):
    edition = seed_edition(recipients=2)
    db.session.commit()
    smtp.refuse_rcpt["staff0@example.com"] = (550, "5.1.1 No such user")
    sending.run_edition(edition.id)
    assert edition_row(edition.id).failed_count == 1
    smtp.refuse_rcpt.clear()
    assert sending.retry_failed(edition_row(edition.id), admin) == 1
    db.session.commit()
    smtp.refuse_greeting(421)
    result = sending.run_edition(edition.id, now=utcnow() - timedelta(minutes=45))
    assert result.paused and edition_row(edition.id).status == EditionStatus.SENT

    page = login_as(employee).get(f"/editions/{edition.number}")
    assert page.status_code == 200 and BANNER not in page.get_data(as_text=True)
    assert BANNER in login_as(editor).get(f"/editions/{edition.number}").get_data(as_text=True)
    assert BANNER in login_as(admin).get("/editions/upcoming").get_data(as_text=True)


# -- flask editions send ---------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "code"), [("paused", 3), ("failed", 4)],
                         ids=["paused", "failed"])
def test_send_command_exit_status(app, smtp, fault, code):
    edition = seed_edition(recipients=2)
    db.session.commit()
    if fault == "paused":
        smtp.refuse_greeting(421)
    else:
        smtp.refuse_rcpt["staff1@example.com"] = (550, "5.1.1 No such user")

    outcome = app.test_cli_runner().invoke(
        args=["editions", "send", str(edition.number)]
    )
    assert outcome.exit_code == code, (outcome.output, outcome.stderr)
    final = edition_row(edition.id)
    if fault == "paused":
        assert final.status == EditionStatus.SENDING
        assert "paused" in outcome.stderr and "421" in outcome.stderr
        assert all(d.attempts == 0 for d in deliveries(edition.id))
    else:
        assert final.status == EditionStatus.SENT and final.failed_count == 1


def test_send_command_help_documents_the_exit_statuses(app):
    text = app.test_cli_runner().invoke(args=["editions", "send", "--help"]).output
    assert "Exit status" in text and "3  paused" in text and "4  finished with failed" in text


def test_send_command_tries_now_even_while_paused(app, smtp):
    """An operator's run does not wait for the scheduler's backoff; sent fine, it exits 0."""
    edition = seed_edition(recipients=1)
    db.session.commit()
    smtp.refuse_greeting(421, connections=1)
    sending.run_edition(edition.id)
    assert sending.waiting_for_server(edition_row(edition.id))
    outcome = app.test_cli_runner().invoke(args=["editions", "send", str(edition.number)])
    assert outcome.exit_code == 0, outcome.output
    assert edition_row(edition.id).status == EditionStatus.SENT

