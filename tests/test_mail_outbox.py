"""The durable mail outbox: emails recorded with the change that caused them, delivered once.

Delivery runs against a real aiosmtpd server (tests/fixtures/smtp.py); the crash test kills a
real process (tests/helpers_outbox.py) between its commit and its send.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import text

from app.extensions import db
from app.mail import build_message
from app.mail import get_outbox
from app.mail import send_email_after_commit
from app.mail.outbox import claim
from app.mail.outbox import deliver_outbox
from app.mail.outbox import insert_now
from app.mail.outbox import new_row
from app.mail.outbox import parse
from app.mail.outbox import prune_outbox
from app.mail.outbox import run_outbox
from app.models import DomainEvent
from app.models import OutboxMessage
from app.models import OutboxStatus
from app.models import Role
from app.models import Story
from app.models import SubmissionStatus
from app.models import utcnow
from app.newsletter.scheduler import build_scheduler
from tests import factories
from tests.fixtures.smtp import SMTPServer
from tests.fixtures.smtp import configure_app_for
from tests.helpers_outbox import JOB_ENV
from tests.helpers_sender import ROOT

S = OutboxStatus
TIMEOUT = 60


def begin() -> None:
    db.session.execute(text("SELECT 1"))
    assert db.session().in_transaction()


def rows() -> list[OutboxMessage]:
    db.session.rollback()  # see what other connections committed
    return list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def queue(*addresses: str) -> list[int]:
    """Committed pending rows that nobody has tried yet (as after a crash before the send)."""
    messages = [
        build_message(sender="Feel Good Fridays <feelgood@example.com>", to=address,
                      subject=f"Note for {address}", text="Hello", html="<p>Hello</p>")
        for address in addresses
    ]
    return insert_now(new_row("test_message", msg) for msg in messages)


def received(server: SMTPServer) -> Counter:
    return Counter((m.rcpt_tos[0], m.message["Message-ID"]) for m in server.messages)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def outbox_job(app: Flask):
    """The scheduler's registered "mail outbox" job, exactly as the scheduler would run it."""
    return build_scheduler(app, threading.Event()).get_job("mail_outbox").func


def events_job(app: Flask):
    """The scheduler's "domain events" job (dispatches what a dead process left)."""
    return build_scheduler(app, threading.Event()).get_job("domain_events").func


# -- 1. written in the same transaction -----------------------------------------------------------


def test_row_is_part_of_the_transaction_and_sent_after_commit(app, outbox):
    begin()
    send_email_after_commit("ana@example.com", "Approved", "test_message", recipient_name="Ana")
    db.session.flush()
    [pending] = db.session.scalars(sa.select(OutboxMessage)).all()  # inside the transaction
    assert (pending.status, pending.template, pending.to_addr) == (
        S.PENDING, "test_message", "ana@example.com")
    assert outbox == []

    db.session.commit()

    [msg] = outbox
    [row] = rows()
    assert row.status == S.SENT and row.attempts == 1 and row.sent_at is not None
    assert parse(row.raw)["Message-ID"] == msg["Message-ID"]  # the stored message is what went
    assert "Hello Ana" in msg.get_body(("plain",)).get_content()


def test_rollback_leaves_no_row_and_no_email(app, outbox):
    begin()
    send_email_after_commit("ana@example.com", "Never", "test_message")
    db.session.flush()
    db.session.rollback()
    begin()
    db.session.commit()
    assert rows() == []
    assert outbox == []


def test_rolled_back_savepoint_drops_only_its_email(app, outbox):
    begin()
    send_email_after_commit("outer@example.com", "Outer", "test_message")
    with db.session.begin_nested():
        send_email_after_commit("released@example.com", "Released", "test_message")
    savepoint = db.session.begin_nested()
    send_email_after_commit("rolled-back@example.com", "Rolled back", "test_message")
    db.session.flush()  # the row was written inside the savepoint, then undone with it
    savepoint.rollback()

    db.session.commit()

    assert sorted(r.to_addr for r in rows()) == ["outer@example.com", "released@example.com"]
    assert {r.status for r in rows()} == {S.SENT}
    assert sorted(m["Subject"] for m in outbox) == ["Outer", "Released"]


def test_review_decision_and_its_email_commit_together(app, outbox):
    """The decision commits with its event; the subscriber's email row commits with the
    subscriber's marker, right after, and is sent at once."""
    from app.review import services

    editor = factories.make_user(Role.EDITOR, email="dana@example.com")
    story = factories.make_story(status=SubmissionStatus.SUBMITTED)
    db.session.commit()
    author_email = story.author.email

    services.approve(story, actor=editor, seen_version=story.version)
    [event] = db.session.scalars(sa.select(DomainEvent)).all()  # flushed with the decision
    assert event.name == "submission.approved" and event.dispatched_at is None
    assert db.session.scalars(sa.select(OutboxMessage)).all() == []
    db.session.commit()

    [msg] = outbox
    assert msg["To"] == author_email
    assert [r.status for r in rows()] == [S.SENT]
    assert db.session.get(DomainEvent, event.id).dispatched_at is not None


def test_without_transaction_the_row_is_stored_before_sending(app, outbox):
    db.session.commit()
    send_email_after_commit("ana@example.com", "Now", "test_message")
    assert [m["Subject"] for m in outbox] == ["Now"]
    assert [(r.subject, r.status) for r in rows()] == [("Now", S.SENT)]


def test_after_commit_sends_only_its_own_rows(app, smtp_server: SMTPServer):
    """A web request sends what it committed; an old backlog is the scheduler's job."""
    configure_app_for(app, smtp_server)
    [backlog] = queue("old@example.com")
    begin()
    send_email_after_commit("new@example.com", "New", "test_message")
    db.session.commit()
    assert [m.rcpt_tos for m in smtp_server.messages] == [["new@example.com"]]
    assert db.session.get(OutboxMessage, backlog).status == S.PENDING


# -- 2. killed between the commit and the send ----------------------------------------------------


@pytest.mark.slow  # a real process
def test_process_killed_after_commit_still_delivers_exactly_once(app, smtp_server: SMTPServer):
    configure_app_for(app, smtp_server)
    editor = factories.make_user(Role.EDITOR, email="dana@example.com")
    story = factories.make_story(status=SubmissionStatus.SUBMITTED)
    db.session.commit()
    author_email, story_id = story.author.email, story.id
    job = {"database_url": app.config["SQLALCHEMY_DATABASE_URI"], "smtp_port": smtp_server.port,
           "story_id": story_id, "editor_id": editor.id}
    env = {**os.environ, JOB_ENV: json.dumps(job),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

    child = subprocess.run([sys.executable, "-m", "tests.helpers_outbox"], env=env,
                           capture_output=True, text=True, timeout=TIMEOUT)

    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr[-3000:]
    assert "COMMITTING" in child.stdout and "NOT KILLED" not in child.stdout
    assert rows() == []  # the email is a subscriber's to record, and none has run:
    assert db.session.get(Story, story_id).status == SubmissionStatus.APPROVED  # committed...
    [event] = db.session.scalars(sa.select(DomainEvent)).all()  # ...with its event,
    assert event.dispatched_at is None  # which nobody has dispatched
    assert smtp_server.messages == []

    app.config["EVENTS_DISPATCH_DELAY_SECONDS"] = 0
    events_job(app)()  # the subscriber records the email and it goes out after its commit

    [row] = rows()
    message_id = parse(row.raw)["Message-ID"]
    assert received(smtp_server) == Counter({(author_email, message_id): 1})
    assert "approved" in str(smtp_server.messages[0].message["Subject"])
    assert (row.status, row.attempts, row.to_addr) == (S.SENT, 1, author_email)

    outbox_job(app)()  # the next ticks find nothing to do
    events_job(app)()
    assert len(smtp_server.messages) == 1


# -- 3. a process that died after claiming --------------------------------------------------------


def test_stale_claim_is_retried_after_the_claim_timeout_not_before(app, smtp_server: SMTPServer):
    configure_app_for(app, smtp_server)
    app.config["NEWSLETTER_CLAIM_TIMEOUT_SECONDS"] = 300
    [row_id] = queue("ana@example.com")
    t0 = utcnow()
    with db.engine.connect() as conn:  # claimed, then the process "dies" before sending
        assert [r.id for r in claim(conn, t0, 10)] == [row_id]
    assert rows()[0].status == S.SENDING

    early = deliver_outbox(t0 + timedelta(seconds=299))
    assert early.processed == 0 and smtp_server.messages == []
    assert rows()[0].status == S.SENDING

    late = deliver_outbox(t0 + timedelta(seconds=301))
    assert late.sent == 1
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ana@example.com"]]
    [row] = rows()
    assert (row.status, row.attempts, row.claimed_at) == (S.SENT, 1, None)
    assert deliver_outbox(t0 + timedelta(seconds=900)).processed == 0


# -- 4. the mail server is down -------------------------------------------------------------------


def test_unreachable_server_charges_no_attempt_and_sends_once_after_recovery(
    app, smtp_server: SMTPServer, caplog
):
    app.config.update(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=closed_port(),
                      MAIL_TIMEOUT=5)
    begin()
    for name in ("a", "b", "c"):
        send_email_after_commit(f"{name}@example.com", "Hi", "test_message")
    with caplog.at_level(logging.WARNING, logger="app.mail"):
        db.session.commit()  # the request's own attempt fails: the rows wait, nothing raised
        stats = run_outbox()  # and so does the scheduler's while the server is down

    assert stats.stopped and stats.processed == 0
    assert [(r.status, r.attempts, r.claimed_at) for r in rows()] == [(S.PENDING, 0, None)] * 3
    assert all("cannot connect" in (r.last_error or "") for r in rows())
    first = rows()[0]
    assert f"test_message #{first.id}: cannot connect" in caplog.text  # the row, not the address
    assert "@example.com" not in caplog.text

    configure_app_for(app, smtp_server)  # the server is back
    assert run_outbox().sent == 3
    assert run_outbox().processed == 0
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [
        "a@example.com", "b@example.com", "c@example.com"]
    assert max(received(smtp_server).values()) == 1
    assert [(r.status, r.attempts) for r in rows()] == [(S.SENT, 1)] * 3


def test_421_greeting_waits_for_the_server_then_sends_once(app, smtp_server: SMTPServer):
    configure_app_for(app, smtp_server)
    smtp_server.refuse_greeting(421)
    begin()
    send_email_after_commit("ana@example.com", "Hi", "test_message")
    send_email_after_commit("bo@example.com", "Hi", "test_message")
    db.session.commit()
    assert run_outbox().stopped
    assert [(r.status, r.attempts) for r in rows()] == [(S.PENDING, 0)] * 2
    assert all("421" in (r.last_error or "") for r in rows())
    assert smtp_server.messages == []

    smtp_server.accept_greetings()
    assert run_outbox().sent == 2
    assert run_outbox().processed == 0
    assert [smtp_server.received_by(a) for a in ("ana@example.com", "bo@example.com")] == [1, 1]


# -- 5. per-message failures ----------------------------------------------------------------------


def test_permanent_refusal_fails_its_row_and_transient_backs_off(
    app, smtp_server: SMTPServer, caplog
):
    configure_app_for(app, smtp_server)
    app.config.update(NEWSLETTER_RETRY_BASE_SECONDS=60, NEWSLETTER_MAX_ATTEMPTS=5)
    smtp_server.refuse_rcpt["gone@example.com"] = (550, "5.1.1 No such user")
    smtp_server.refuse_rcpt["full@example.com"] = (452, "4.2.2 Mailbox full")
    gone, full, ok = queue("gone@example.com", "full@example.com", "ok@example.com")
    t0 = utcnow()

    with caplog.at_level(logging.WARNING, logger="app.mail"):
        stats = deliver_outbox(t0)

    assert (stats.sent, stats.failed, stats.deferred) == (1, 1, 1)
    by_id = {r.id: r for r in rows()}
    assert (by_id[gone].status, by_id[gone].attempts) == (S.FAILED, 1)
    assert "550" in by_id[gone].last_error
    assert (by_id[full].status, by_id[full].attempts) == (S.PENDING, 1)
    assert by_id[full].next_attempt_at == t0 + timedelta(seconds=60)
    assert "452" in by_id[full].last_error
    assert by_id[ok].status == S.SENT
    assert f"test_message #{gone} failed for good" in caplog.text
    assert f"test_message #{full} failed (attempt 1 of 5)" in caplog.text
    assert "@example.com" not in caplog.text  # rows are named by id: no address is logged

    assert deliver_outbox(t0 + timedelta(seconds=59)).processed == 0  # not due yet
    del smtp_server.refuse_rcpt["full@example.com"]
    assert deliver_outbox(t0 + timedelta(seconds=60)).sent == 1
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [
        "full@example.com", "ok@example.com"]
    by_id = {r.id: r for r in rows()}
    assert (by_id[full].status, by_id[full].attempts) == (S.SENT, 2)


def test_transient_failures_back_off_exponentially_then_give_up(app, smtp_server: SMTPServer):
    configure_app_for(app, smtp_server)
    app.config.update(NEWSLETTER_RETRY_BASE_SECONDS=10, NEWSLETTER_RETRY_MAX_SECONDS=15,
                      NEWSLETTER_MAX_ATTEMPTS=3)
    smtp_server.refuse_rcpt["full@example.com"] = (452, "4.2.2 Mailbox full")
    queue("full@example.com")
    now = utcnow()
    delays = []
    for _ in range(3):
        deliver_outbox(now)
        [row] = rows()
        if row.next_attempt_at is not None:
            delays.append((row.next_attempt_at - now).total_seconds())
            now = row.next_attempt_at
    assert delays == [10, 15]  # base, then doubled but capped
    assert (row.status, row.attempts, row.next_attempt_at) == (S.FAILED, 3, None)
    assert deliver_outbox(now + timedelta(days=1)).processed == 0


# -- 6. claims ------------------------------------------------------------------------------------


def test_a_claim_of_n_moves_exactly_n_rows(app):
    n = 4
    queue(*(f"user{i}@example.com" for i in range(3 * n + 2)))
    now = utcnow()

    def sending() -> int:
        return db.session.scalar(
            sa.select(sa.func.count()).where(OutboxMessage.status == S.SENDING))

    for round_ in (1, 2, 3):
        with db.engine.connect() as conn:
            assert len(claim(conn, now, n)) == n
        db.session.rollback()
        assert sending() == round_ * n
    with db.engine.connect() as conn:
        assert len(claim(conn, now, n)) == 2


def test_concurrent_claimers_never_share_a_row(app):
    queue(*(f"user{i}@example.com" for i in range(60)))
    now = utcnow()
    start = threading.Barrier(3)
    claimed: list[list[int]] = [[] for _ in range(3)]
    errors: list[BaseException] = []

    def worker(mine: list[int]) -> None:
        try:
            with app.app_context(), db.engine.connect() as conn:
                start.wait(10)
                while batch := claim(conn, now, 5):
                    mine.extend(r.id for r in batch)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(c,)) for c in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert errors == []
    everything = [i for c in claimed for i in c]
    assert len(everything) == len(set(everything)) == 60


# -- the scheduler job, pruning and the CLI -------------------------------------------------------


def test_prune_keeps_recent_failed_and_pending_rows(app):
    app.config["MAIL_OUTBOX_KEEP_DAYS"] = 30
    old_sent, new_sent, old_failed, pending = queue(*(f"u{i}@example.com" for i in range(4)))
    now = utcnow()
    table = OutboxMessage.__table__
    with db.engine.begin() as conn:
        for row_id, status, age in ((old_sent, S.SENT, 31), (new_sent, S.SENT, 29),
                                    (old_failed, S.FAILED, 90)):
            conn.execute(sa.update(table).where(table.c.id == row_id).values(
                status=status, sent_at=now - timedelta(days=age) if status == S.SENT else None,
                created_at=now - timedelta(days=age)))
    assert prune_outbox(now) == 1
    assert sorted(r.id for r in rows()) == [new_sent, old_failed, pending]


def test_scheduler_job_delivers_and_prunes(app, smtp_server: SMTPServer):
    configure_app_for(app, smtp_server)
    queue("ana@example.com", "bo@example.com")
    job = outbox_job(app)
    job()
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [
        "ana@example.com", "bo@example.com"]
    app.config["MAIL_OUTBOX_KEEP_DAYS"] = 0
    job()
    assert rows() == []
    assert len(smtp_server.messages) == 2


def test_broken_mail_setup_claims_nothing(app, caplog):
    app.config["MAIL_BACKEND"] = "pigeon"
    begin()
    send_email_after_commit("ana@example.com", "Hi", "test_message")
    with caplog.at_level(logging.ERROR, logger="app.mail"):
        db.session.commit()  # logged, not raised: the change is committed
    assert "after commit failed" in caplog.text
    assert [(r.status, r.attempts) for r in rows()] == [(S.PENDING, 0)]
    with pytest.raises(ValueError, match="pigeon"):
        run_outbox()
    app.config["MAIL_BACKEND"] = "memory"
    assert run_outbox().sent == 1
    assert len(get_outbox()) == 1


def test_cli_sends_what_is_due_and_prints_counts(app, smtp_server: SMTPServer):
    configure_app_for(app, smtp_server)
    smtp_server.refuse_rcpt["gone@example.com"] = (550, "5.1.1 No such user")
    queue("ana@example.com", "gone@example.com")
    result = app.test_cli_runner().invoke(args=["mail", "outbox"])
    assert result.exit_code == 0, result.output
    assert "1 sent, 1 failed, 0 to retry" in result.output
    assert "0 pending, 0 sending, 1 sent, 1 failed" in result.output
    assert app.test_cli_runner().invoke(args=["mail", "outbox"]).output.startswith(
        "0 sent, 0 failed")

    del smtp_server.refuse_rcpt["gone@example.com"]  # the address was fixed at the server
    result = app.test_cli_runner().invoke(args=["mail", "outbox", "--retry-failed"])
    assert "1 failed email(s) queued again." in result.output
    assert "1 sent, 0 failed" in result.output
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [
        "ana@example.com", "gone@example.com"]
