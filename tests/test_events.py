"""Domain events: recorded with the change, dispatched after its commit, once per subscriber.

Subscribers here are test functions registered for a test-only event (and removed after each
test); the crash test kills a real process (tests/helpers_events.py) between an edition's commit
and its dispatch, and checks that the scheduler's job delivers the author's email once, to a
real SMTP server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from app import audit
from app.events import EditionSent
from app.events import Event
from app.events import SubmissionApproved
from app.events import emit
from app.events import prune_events
from app.events import run_events
from app.events import subscribe
from app.events import subscribers_for
from app.events import unsubscribe
from app.extensions import db
from app.models import AuditEvent
from app.models import DomainEvent
from app.models import Edition
from app.models import EditionStatus
from app.models import EventDelivery
from app.models import EventDeliveryStatus
from app.models import OutboxMessage
from app.models import Role
from app.models import Story
from app.models import SubmissionStatus
from app.models import utcnow
from app.newsletter.scheduler import build_scheduler
from app.notifications.channels import Channel
from app.notifications.channels import active_channels
from app.notifications.notification import Notification
from tests import factories
from tests.fixtures.smtp import SMTPServer
from tests.fixtures.smtp import configure_app_for
from tests.helpers_events import JOB_ENV
from tests.helpers_sender import ROOT

D = EventDeliveryStatus
TIMEOUT = 60


@dataclass(frozen=True)
class Pinged(Event, name="test.pinged"):
    value: int


@pytest.fixture
def handlers() -> Iterator[Callable[..., list[int]]]:
    """`handlers("a", fail=2)` subscribes a handler named "a" to Pinged that raises on its
    first `fail` calls; returns the list of values it handled. Each successful call writes an
    audit row, to show a subscriber's effects commit (or roll back) with its marker."""
    added: list[str] = []

    def add(name: str, *, fail: int = 0) -> list[int]:
        seen: list[int] = []
        failures = [fail]

        def handler(event: Pinged) -> None:
            audit.record(None, f"test.{name}", object_type="test", object_id=event.value)
            if failures[0] > 0:
                failures[0] -= 1
                raise RuntimeError(f"{name} is broken")
            seen.append(event.value)

        subscribe(Pinged, name=f"test.{name}")(handler)
        added.append(f"test.{name}")
        return seen

    yield add
    for name in added:
        unsubscribe(Pinged, name)


def begin() -> None:
    db.session.execute(sa.text("SELECT 1"))


def reload() -> None:
    db.session.rollback()  # see what other sessions committed


def actions() -> list[str]:
    reload()
    return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def deliveries() -> list[tuple[str, D, int]]:
    reload()
    return [
        (d.subscriber, d.status, d.attempts)
        for d in db.session.scalars(sa.select(EventDelivery).order_by(EventDelivery.subscriber))
    ]


def events_job(app: Flask):
    """The scheduler's "domain events" job, exactly as the scheduler runs it."""
    return build_scheduler(app, threading.Event()).get_job("domain_events").func


# -- recorded with the change ---------------------------------------------------------------------


def test_rolled_back_event_is_never_dispatched(app, handlers):
    seen = handlers("a")
    begin()
    emit(Pinged(1))
    db.session.flush()
    assert db.session.scalar(sa.select(sa.func.count(DomainEvent.id))) == 1  # in the transaction
    db.session.rollback()
    begin()
    db.session.commit()
    assert seen == [] and deliveries() == []
    assert db.session.scalar(sa.select(sa.func.count(DomainEvent.id))) == 0
    run_events(utcnow() + timedelta(hours=1))
    assert seen == []


def test_rolled_back_savepoint_drops_only_its_event(app, handlers):
    seen = handlers("a")
    begin()
    emit(Pinged(1))
    with db.session.begin_nested():
        emit(Pinged(2))
    savepoint = db.session.begin_nested()
    emit(Pinged(3))
    db.session.flush()
    savepoint.rollback()
    db.session.commit()
    assert seen == [1, 2]


def test_an_event_nobody_listens_to_is_recorded_as_dispatched(app):
    begin()
    row = emit(Pinged(1))  # the test's handlers are not subscribed here
    db.session.commit()
    assert db.session.get(DomainEvent, row.id).dispatched_at is not None
    assert deliveries() == []


def test_emit_belongs_inside_a_transaction(app):
    db.session.commit()
    with pytest.raises(RuntimeError, match="outside a transaction"):
        emit(Pinged(1))


def test_committed_event_reaches_each_subscriber_once(app, handlers):
    a, b = handlers("a"), handlers("b")
    begin()
    audit.record(None, "test.action", object_type="test")
    emit(Pinged(7))
    db.session.commit()

    assert (a, b) == ([7], [7])
    assert deliveries() == [("test.a", D.DONE, 1), ("test.b", D.DONE, 1)]
    [event] = db.session.scalars(sa.select(DomainEvent)).all()
    assert event.name == "test.pinged" and event.payload == {"value": 7}
    assert event.dispatched_at is not None

    run_events(utcnow() + timedelta(hours=1))  # the scheduler finds nothing left to do
    events_job(app)()
    assert (a, b) == ([7], [7])
    assert actions() == ["test.action", "test.a", "test.b"]


def test_a_subscriber_already_marked_done_is_not_run_again(app, handlers):
    """The marker is the truth: another process that handled the event wrote it."""
    seen = handlers("a")
    begin()
    row = emit(Pinged(1))
    db.session.flush()
    db.session.add(EventDelivery(event_id=row.id, subscriber="test.a", status=D.DONE,
                                 attempts=1))
    db.session.commit()
    assert seen == []
    assert db.session.get(DomainEvent, row.id).dispatched_at is not None


def test_failing_subscriber_is_retried_by_the_scheduler_and_runs_once(app, handlers, caplog):
    # Retry at once, and let the scheduler take events at once (the backoff is tested below).
    app.config.update(EVENTS_RETRY_BASE_SECONDS=0, EVENTS_DISPATCH_DELAY_SECONDS=0)
    good, flaky = handlers("good"), handlers("flaky", fail=1)
    begin()
    audit.record(None, "test.action", object_type="test")
    emit(Pinged(5))
    db.session.commit()  # must not raise: the action is done whatever a subscriber does

    assert "subscriber test.flaky failed (attempt 1 of 8); retry in 0 s" in caplog.text
    assert good == [5] and flaky == []
    assert actions() == ["test.action", "test.good"]  # the failed run's write was rolled back
    assert deliveries() == [("test.flaky", D.PENDING, 1), ("test.good", D.DONE, 1)]
    [event] = db.session.scalars(sa.select(DomainEvent)).all()
    assert event.dispatched_at is None
    failed = db.session.scalar(sa.select(EventDelivery).where(
        EventDelivery.subscriber == "test.flaky"))
    assert failed.last_error == "RuntimeError: flaky is broken"

    events_job(app)()  # the scheduler's own job, as it runs every few seconds
    assert good == [5] and flaky == [5]
    assert deliveries() == [("test.flaky", D.DONE, 2), ("test.good", D.DONE, 1)]
    assert actions() == ["test.action", "test.good", "test.flaky"]
    assert db.session.get(DomainEvent, event.id).dispatched_at is not None

    events_job(app)()
    assert good == [5] and flaky == [5]


def test_retries_back_off_then_give_up_and_keep_the_event(app, handlers):
    app.config["EVENTS_MAX_ATTEMPTS"] = 3
    broken = handlers("broken", fail=99)
    begin()
    emit(Pinged(1))
    db.session.commit()
    start = utcnow()
    run_events(start + timedelta(seconds=59))  # 60 s after the first failure: not yet
    assert deliveries() == [("test.broken", D.PENDING, 1)]
    run_events(start + timedelta(seconds=61))
    retry = db.session.scalar(sa.select(EventDelivery))
    assert (retry.attempts, retry.status) == (2, D.PENDING)
    assert retry.next_attempt_at >= start + timedelta(seconds=61 + 120)  # doubled
    run_events(start + timedelta(seconds=61 + 121))
    assert deliveries() == [("test.broken", D.FAILED, 3)]
    assert broken == []
    [event] = db.session.scalars(sa.select(DomainEvent)).all()
    assert event.dispatched_at is not None  # settled: given up, left for an operator

    assert prune_events(utcnow() + timedelta(days=30), keep_days=1) == 0  # kept: it failed
    assert db.session.scalar(sa.select(sa.func.count(DomainEvent.id))) == 1


def test_dispatched_events_are_pruned_after_the_keep_days(app, handlers):
    handlers("a")
    begin()
    emit(Pinged(1))
    db.session.commit()
    begin()
    emit(Pinged(2))
    db.session.flush()
    db.session.execute(sa.update(DomainEvent).where(DomainEvent.payload.is_not(None))
                       .values(created_at=utcnow()))
    db.session.commit()
    assert prune_events(utcnow() + timedelta(days=13)) == 0
    assert prune_events(utcnow() + timedelta(days=15)) == 2
    reload()
    assert db.session.scalar(sa.select(sa.func.count(EventDelivery.id))) == 0


def test_cron_style_tick_dispatches_what_was_left(app, handlers):
    seen = handlers("a")
    db.session.add(DomainEvent(name="test.pinged", payload={"value": 3}, created_at=utcnow()))
    db.session.commit()  # as a killed process leaves it: committed, never dispatched
    app.config["EVENTS_DISPATCH_DELAY_SECONDS"] = 0
    result = app.test_cli_runner().invoke(args=["scheduler", "tick"])
    assert result.exit_code == 0, result.output
    assert seen == [3]


def test_features_subscribe_at_app_start(app):
    names = {s.name for s in subscribers_for(EditionSent.name)}
    assert names == {
        "app.chat.subscribers.post_edition_sent",
        "app.editions.subscribers.open_next_edition",
        "app.notifications.subscribers.tell_authors_and_colleagues",
        "app.notifications.subscribers.tell_managers",
        "app.webhooks.subscribers.edition_sent",
    }
    assert [s.name for s in subscribers_for(SubmissionApproved.name)] == [
        "app.notifications.subscribers.tell_author_approved",
        "app.webhooks.subscribers.status_approved"]


def test_finishing_an_edition_only_emits_and_subscribers_do_the_rest(app, outbox):
    """finish_edition announces; the next edition and the emails come from subscribers."""
    from app.newsletter.sending import finish_edition

    author = factories.make_user(email="priya@example.com")
    colleague = factories.make_user(email="noah@example.com")
    story = factories.make_story(author, status=SubmissionStatus.APPROVED, colleagues=[colleague])
    edition = factories.make_edition(status=EditionStatus.SENDING, items=[story])
    db.session.commit()

    assert finish_edition(edition)

    reload()
    names = list(db.session.scalars(sa.select(DomainEvent.name).order_by(DomainEvent.id)))
    assert names == ["submission.published", "colleague.featured", "edition.sent"]
    assert sorted(m["To"] for m in outbox) == ["noah@example.com", "priya@example.com"]
    assert db.session.scalar(sa.select(Edition).where(Edition.status == EditionStatus.DRAFT))


# -- a process killed between the commit and the dispatch -----------------------------------------


@pytest.mark.slow  # a real process
def test_process_killed_before_dispatch_is_dispatched_by_the_scheduler_once(
    app, smtp_server: SMTPServer
):
    configure_app_for(app, smtp_server)
    author = factories.make_user(email="priya@example.com")
    story = factories.make_story(author, status=SubmissionStatus.APPROVED, title="Holiday saved")
    edition = factories.make_edition(status=EditionStatus.SENDING, items=[story])
    db.session.commit()
    job = {"database_url": app.config["SQLALCHEMY_DATABASE_URI"], "smtp_port": smtp_server.port,
           "edition_id": edition.id}
    env = {**os.environ, JOB_ENV: json.dumps(job),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

    child = subprocess.run([sys.executable, "-m", "tests.helpers_events"], env=env,
                           capture_output=True, text=True, timeout=TIMEOUT)

    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr[-3000:]
    assert "FINISHING" in child.stdout and "NOT KILLED" not in child.stdout
    reload()
    assert db.session.get(Edition, edition.id).status == EditionStatus.SENT  # committed,
    assert db.session.get(Story, story.id).status == SubmissionStatus.PUBLISHED
    sent_event = sa.select(DomainEvent).where(DomainEvent.name == "edition.sent")
    assert db.session.scalar(sent_event).dispatched_at is None
    assert db.session.scalars(sa.select(OutboxMessage)).all() == []  # but nobody reacted yet
    draft = sa.select(Edition).where(Edition.status == EditionStatus.DRAFT)
    assert db.session.scalar(draft) is None

    job_run = events_job(app)
    job_run()  # too early: the committing process might still be dispatching
    assert smtp_server.messages == []
    app.config["EVENTS_DISPATCH_DELAY_SECONDS"] = 0
    job_run()

    [message] = smtp_server.messages
    assert message.rcpt_tos == ["priya@example.com"]
    assert str(message.message["Subject"]) == f"You're in Feel Good Fridays #{edition.number}!"
    reload()
    assert len(db.session.scalars(draft).all()) == 1
    assert db.session.scalar(sent_event).dispatched_at is not None

    job_run()  # every later tick finds nothing to do
    build_scheduler(app, threading.Event()).get_job("mail_outbox").func()
    assert len(smtp_server.messages) == 1


# -- channels ------------------------------------------------------------------------------------


class RecordingChannel(Channel):
    """A channel as a later issue would add one: a class with a name, plus the setting."""

    name = "test-recording"
    received: list[tuple[str, str, str | None]] = []

    def send(self, notification: Notification) -> None:
        self.received.append((notification.kind.key, notification.user.email,
                              notification.url))


def test_a_new_channel_is_one_class_plus_the_setting(app, outbox):
    RecordingChannel.received.clear()
    editor = factories.make_user(Role.EDITOR)
    story = factories.make_story(status=SubmissionStatus.SUBMITTED)
    db.session.commit()
    author_email = story.author.email

    app.config["NOTIFICATION_CHANNELS"] = "email, test-recording"
    assert [type(c).__name__ for c in active_channels()] == ["EmailChannel", "RecordingChannel"]

    from app.review.services import approve

    approve(story, actor=editor, seen_version=story.version)
    db.session.commit()

    assert [m["To"] for m in outbox] == [author_email]
    assert RecordingChannel.received == [
        ("submission_status", author_email, f"http://localhost/my/stories/{story.id}")]


def test_an_unknown_channel_fails_the_subscriber_not_the_action(app, outbox, caplog):
    app.config.update(NOTIFICATION_CHANNELS="email,carrier-pigeon", EVENTS_RETRY_BASE_SECONDS=0)
    editor = factories.make_user(Role.EDITOR)
    story = factories.make_story(status=SubmissionStatus.SUBMITTED)
    db.session.commit()

    from app.review.services import approve

    approve(story, actor=editor, seen_version=story.version)
    db.session.commit()  # the approval stands

    reload()
    assert db.session.get(Story, story.id).status == SubmissionStatus.APPROVED
    assert outbox == []  # nothing half-done: the subscriber's transaction was rolled back
    assert "NOTIFICATION_CHANNELS names 'carrier-pigeon'" in caplog.text
    [delivery] = db.session.scalars(sa.select(EventDelivery).where(
        EventDelivery.subscriber == "app.notifications.subscribers.tell_author_approved")).all()
    assert delivery.status == D.PENDING

    app.config.update(NOTIFICATION_CHANNELS="email", EVENTS_DISPATCH_DELAY_SECONDS=0)
    events_job(app)()  # configuration fixed: the retry sends it, once
    assert len(outbox) == 1


def test_an_event_no_subscriber_wants_is_dispatched_at_emit(app):
    """`when` is asked at emit: while every subscriber says no, the event is settled at once
    and nothing runs after the commit; once one says yes, every subscriber runs."""
    seen: list[tuple[str, int]] = []
    asked: list[int] = []

    def wants(event: Pinged) -> bool:
        asked.append(event.value)
        return event.value > 1

    subscribe(Pinged, name="test.picky", when=wants)(lambda e: seen.append(("picky", e.value)))
    try:
        begin()
        quiet = emit(Pinged(1))
        db.session.commit()
        assert asked == [1] and seen == []
        assert quiet.dispatched_at is not None
        assert db.session.scalar(sa.select(sa.func.count(EventDelivery.id))) == 0

        begin()
        loud = emit(Pinged(2))
        db.session.commit()
        assert asked == [1, 2] and seen == [("picky", 2)]
        reload()
        assert db.session.get(DomainEvent, loud.id).dispatched_at is not None
    finally:
        unsubscribe(Pinged, "test.picky")
