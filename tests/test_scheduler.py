"""The scheduler: due times from settings with a controllable clock (daylight saving, a changed
time zone or send day, no restart), missed runs, empty editions, reminders, the nudge, and the
real scheduler process picking up "send now"."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent
from app.models import Edition
from app.models import EditionStatus
from app.models import Role
from app.models import Setting
from app.models import SubmissionStatus
from app.newsletter import jobs
from app.newsletter import sending
from app.newsletter.schedule import WeeklySlot
from app.newsletter.schedule import due_times
from app.newsletter.scheduler import build_scheduler
from app.settings import set_settings
from tests import factories
from tests.fixtures.smtp import SMTPServer
from tests.helpers_sender import seed_edition
from tests.helpers_sender import seed_recipients
from tests.helpers_sender import sender_job

PARIS = "Europe/Paris"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def configure(changed_at: datetime, **values) -> None:
    """Save settings as an admin would, at `changed_at` on the test clock."""
    values = {"timezone": PARIS, **values}
    set_settings(values, actor=None)
    db.session.flush()
    db.session.execute(
        sa.update(Setting).where(Setting.key.in_(list(values))).values(updated_at=changed_at)
    )
    db.session.commit()


def sent_editions() -> list[Edition]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Edition).where(Edition.status == EditionStatus.SENT)))


def newsletters(outbox) -> list:
    return [m for m in outbox if m["List-Id"]]


# -- slots and due times (pure) ------------------------------------------------------------------


@pytest.mark.parametrize(
    "after, expected",
    [
        # Spring forward in Paris on Sunday 29 March 2026: 09:00 is 08:00Z before, 07:00Z after.
        (utc(2026, 3, 23, 0), utc(2026, 3, 27, 8)),
        (utc(2026, 3, 28, 0), utc(2026, 4, 3, 7)),
        # Fall back on Sunday 25 October 2026: 07:00Z before, 08:00Z after.
        (utc(2026, 10, 19, 0), utc(2026, 10, 23, 7)),
        (utc(2026, 10, 24, 0), utc(2026, 10, 30, 8)),
    ],
)
def test_weekly_slot_keeps_local_time_across_daylight_saving(after, expected):
    slot = WeeklySlot.from_settings(4, "09:00", PARIS)
    at = slot.first_after(after)
    assert at == expected
    assert at.astimezone(ZoneInfo(PARIS)).strftime("%A %H:%M") == "Friday 09:00"


def test_times_the_clocks_skip_or_repeat():
    # Sunday 02:30 does not exist on 29 March 2026 in Paris: it goes out at 03:30 local.
    skipped = WeeklySlot.from_settings(6, "02:30", PARIS).first_after(utc(2026, 3, 28, 0))
    assert skipped == utc(2026, 3, 29, 1, 30)
    assert skipped.astimezone(ZoneInfo(PARIS)).strftime("%H:%M") == "03:30"
    # 02:30 happens twice on 25 October: the first one (still summer time).
    twice = WeeklySlot.from_settings(6, "02:30", PARIS).first_after(utc(2026, 10, 24, 0))
    assert twice == utc(2026, 10, 25, 0, 30)


def test_open_editions_take_distinct_weeks(app):
    slot = WeeklySlot.from_settings(4, "09:00", "UTC")
    first = factories.make_edition(status=EditionStatus.SCHEDULED, created_at=utc(2026, 5, 4))
    second = factories.make_edition(status=EditionStatus.DRAFT, created_at=utc(2026, 5, 4))
    override = factories.make_edition(status=EditionStatus.SCHEDULED, number=99,
                                      created_at=utc(2026, 5, 4), scheduled_at=utc(2026, 5, 6, 15))
    dues = due_times([second, first, override], slot, taken_weeks={"2026-W19"},
                     skipped_slots={}, schedule_changed_at=None)
    assert [(d.edition_id, d.at, d.is_override) for d in dues] == [
        (first.id, utc(2026, 5, 15, 9), False),  # W19 already used: the week after
        (second.id, utc(2026, 5, 22, 9), False),
        (override.id, utc(2026, 5, 6, 15), True),
    ]


# -- the tick with a controllable clock ---------------------------------------------------------


@pytest.mark.parametrize(
    "created, due",
    [(utc(2026, 3, 30, 9), utc(2026, 4, 3, 7)), (utc(2026, 10, 26, 9), utc(2026, 10, 30, 8))],
    ids=["spring-forward-week", "fall-back-week"],
)
def test_edition_goes_out_at_local_send_time_in_dst_weeks(app, outbox, created, due):
    configure(created - timedelta(days=10))
    seed_edition(status=EditionStatus.DRAFT, recipients=2, created_at=created)
    db.session.commit()
    jobs.tick(due - timedelta(seconds=30))
    assert sent_editions() == []
    jobs.tick(due + timedelta(seconds=10))
    [edition] = sent_editions()
    assert edition.sent_at == due + timedelta(seconds=10)
    assert len(newsletters(outbox)) == edition.recipients_count > 0


def test_schedule_and_time_zone_changes_apply_without_restart(app, outbox):
    configure(utc(2026, 5, 1))
    seed_edition(status=EditionStatus.DRAFT, recipients=1, created_at=utc(2026, 5, 4))
    db.session.commit()
    # Wednesday: an admin moves the send to Thursdays 10:00 in New York.
    configure(utc(2026, 5, 6, 12), send_weekday=3, send_time="10:00", timezone="America/New_York")
    jobs.tick(utc(2026, 5, 7, 13, 59))  # 09:59 in New York
    assert sent_editions() == []
    jobs.tick(utc(2026, 5, 7, 14, 0, 5))  # 10:00 EDT
    assert [e.iso_week for e in sent_editions()] == ["2026-W19"]


def test_moving_the_send_day_to_the_past_never_fires_at_once(app, outbox):
    configure(utc(2026, 5, 1))
    seed_edition(status=EditionStatus.DRAFT, recipients=1, created_at=utc(2026, 5, 4))
    db.session.commit()
    # Thursday 12:00 an admin sets "Thursdays 09:00": today's slot is already past.
    configure(utc(2026, 5, 7, 10), send_weekday=3)
    jobs.tick(utc(2026, 5, 7, 10, 1))
    assert sent_editions() == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == jobs.MISSED)) == 0
    jobs.tick(utc(2026, 5, 14, 7, 0, 5))
    assert len(sent_editions()) == 1


def test_missed_run_within_grace_sends_once(app, outbox):
    configure(utc(2026, 5, 1), missed_run_grace_hours=6)
    seed_edition(status=EditionStatus.DRAFT, recipients=2, created_at=utc(2026, 5, 4))
    db.session.commit()
    # The scheduler was down at 09:00 (07:00Z) and comes back at 12:30 local.
    jobs.tick(utc(2026, 5, 8, 10, 30))
    jobs.tick(utc(2026, 5, 8, 10, 31))
    [edition] = sent_editions()
    assert len(newsletters(outbox)) == edition.recipients_count


def test_missed_run_past_grace_emails_editors_once_and_waits(app, outbox):
    configure(utc(2026, 5, 1), missed_run_grace_hours=6)
    editor = factories.make_user(Role.EDITOR, email="dana@example.com")
    edition = seed_edition(status=EditionStatus.DRAFT, recipients=2, created_at=utc(2026, 5, 4))
    db.session.commit()

    jobs.tick(utc(2026, 5, 8, 14, 0))  # seven hours late
    jobs.tick(utc(2026, 5, 8, 14, 1))
    assert sent_editions() == [] and newsletters(outbox) == []
    notices = [m for m in outbox if "was not sent" in str(m["Subject"])]
    assert [m["To"] for m in notices] == [editor.email]
    assert "send it by hand" in notices[0].get_body(("plain",)).get_content()

    # Nobody sent it by hand: it takes the next weekly slot.
    jobs.tick(utc(2026, 5, 15, 7, 0, 5))
    assert [e.id for e in sent_editions()] == [edition.id]
    assert len([m for m in outbox if "was not sent" in str(m["Subject"])]) == 1


def test_missed_override_time_waits_for_the_editors(app, outbox, editor):
    configure(utc(2026, 5, 1))
    seed_edition(status=EditionStatus.DRAFT, recipients=1, created_at=utc(2026, 5, 4),
                 scheduled_at=utc(2026, 5, 5, 10))
    db.session.commit()
    jobs.tick(utc(2026, 5, 6, 10))
    jobs.tick(utc(2026, 5, 15, 10))
    assert sent_editions() == []
    assert len([m for m in outbox if "was not sent" in str(m["Subject"])]) == 1


def test_empty_edition_is_skipped_by_default(app, outbox):
    configure(utc(2026, 5, 1))
    draft = seed_edition(status=EditionStatus.DRAFT, with_items=False, recipients=2,
                         created_at=utc(2026, 5, 4))
    db.session.commit()
    jobs.tick(utc(2026, 5, 8, 7, 0, 5))
    jobs.tick(utc(2026, 5, 8, 7, 1))
    assert sent_editions() == [] and newsletters(outbox) == []
    db.session.expire_all()
    assert db.session.get(Edition, draft.id).status == EditionStatus.DRAFT  # number not burnt
    # Items arrive during the next week: it goes out then.
    story = factories.make_story(status=SubmissionStatus.APPROVED)
    draft = db.session.get(Edition, draft.id)
    from app.models import EditionItem

    draft.items.append(EditionItem(story=story, position=0))
    db.session.commit()
    jobs.tick(utc(2026, 5, 15, 7, 0, 5))
    assert [e.id for e in sent_editions()] == [draft.id]


def test_empty_edition_placeholder_policy(app, outbox):
    configure(utc(2026, 5, 1), empty_edition_policy="send_placeholder")
    seed_edition(status=EditionStatus.DRAFT, with_items=False, recipients=2,
                 created_at=utc(2026, 5, 4))
    db.session.commit()
    jobs.tick(utc(2026, 5, 8, 7, 0, 5))
    [edition] = sent_editions()
    [first, *_] = newsletters(outbox)
    assert "No stories this week" in first.get_body(("plain",)).get_content()
    assert edition.sent_count == len(newsletters(outbox))


def test_editor_reminder_before_the_send(app, outbox):
    configure(utc(2026, 5, 1), reminder_hours_before=24)
    editor = factories.make_user(Role.EDITOR, email="dana@example.com")
    admin = factories.make_user(Role.ADMIN, email="ada@example.com")
    factories.make_user(Role.EDITOR, email="former@example.com", active=False)
    seed_edition(status=EditionStatus.DRAFT, created_at=utc(2026, 5, 4))
    factories.make_story(status=SubmissionStatus.SUBMITTED)
    db.session.commit()

    jobs.tick(utc(2026, 5, 7, 6, 59))  # 25 hours before: too early
    assert outbox == []
    jobs.tick(utc(2026, 5, 7, 7, 30))
    jobs.tick(utc(2026, 5, 7, 8, 30))
    reminders = [m for m in outbox if "goes out soon" in str(m["Subject"])]
    assert sorted(m["To"] for m in reminders) == sorted([editor.email, admin.email])
    assert "1 submission is waiting for review" in reminders[0].get_body(("plain",)).get_content()


def test_no_reminder_when_nothing_needs_attention(app, outbox):
    configure(utc(2026, 5, 1), reminder_hours_before=24)
    factories.make_user(Role.EDITOR)
    seed_edition(status=EditionStatus.DRAFT, created_at=utc(2026, 5, 4))
    db.session.commit()
    jobs.tick(utc(2026, 5, 7, 7, 30))
    assert outbox == []


def test_nudge_is_off_by_default_and_weekly_when_on(app, outbox):
    seed_recipients(3)
    factories.make_user(email="quiet@example.com", email_opt_out=True)
    db.session.commit()
    wednesday_10 = utc(2026, 5, 6, 8, 0, 5)  # 10:00 in Paris
    configure(utc(2026, 5, 1))
    jobs.housekeeping(wednesday_10)
    assert outbox == []

    configure(utc(2026, 5, 1), nudge_enabled=True)
    jobs.housekeeping(wednesday_10 - timedelta(minutes=1))
    assert outbox == []
    jobs.housekeeping(wednesday_10)
    jobs.housekeeping(wednesday_10 + timedelta(minutes=1))
    nudges = [m for m in outbox if "customer's day" in str(m["Subject"])]
    assert sorted(m["To"].addresses[0].addr_spec for m in nudges) == [
        f"staff{i}@example.com" for i in range(3)
    ]
    assert nudges[0]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Hi Person0," in nudges[0].get_body(("plain",)).get_content()
    jobs.housekeeping(wednesday_10 + timedelta(days=7))
    assert len([m for m in outbox if "customer's day" in str(m["Subject"])]) == 6


# -- the scheduler process ------------------------------------------------------------------------


def test_scheduler_jobs_never_skip_a_late_tick(app):
    import threading

    scheduler = build_scheduler(app, threading.Event())
    jobs_by_id = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs_by_id) == {
        "deliver", "housekeeping", "mail_outbox", "domain_events", "applause", "uploads", "photos",
        "voice", "chat", "engagement", "webhooks", "heartbeat", "retention", "logos",
        "voice-imports", "people-imports"}
    for job in jobs_by_id.values():
        assert job.misfire_grace_time is None and job.coalesce and job.max_instances == 1
        assert type(job.trigger).__name__ == "IntervalTrigger"


def test_cli_commands_are_registered(app):
    runner = app.test_cli_runner()
    assert "send" in runner.invoke(args=["editions", "--help"]).output
    assert "run" in runner.invoke(args=["scheduler", "--help"]).output


@pytest.mark.slow  # a real scheduler process
def test_scheduler_process_picks_up_send_now_and_stops_on_sigterm(app, smtp_server: SMTPServer,
                                                                   editor):
    edition = seed_edition(status=EditionStatus.DRAFT, recipients=3)
    db.session.commit()
    env = sender_job(database_url=app.config["SQLALCHEMY_DATABASE_URI"],
                     smtp_port=smtp_server.port, deliver_seconds=0.5)
    process = subprocess.Popen([sys.executable, "-m", "tests.helpers_sender", "scheduler"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sending.request_send_now(db.session.get(Edition, edition.id), editor)
        db.session.commit()
        deadline = time.monotonic() + 30
        while True:
            db.session.rollback()
            if db.session.get(Edition, edition.id).status == EditionStatus.SENT:
                break
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the scheduler did not send the edition"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err[-3000:]
    assert "scheduler stopping" in err
    received = [m for m in smtp_server.messages if m.message["List-Id"]]
    assert len(received) == db.session.get(Edition, edition.id).recipients_count


@pytest.mark.slow  # real scheduler processes
def test_sigterm_right_after_start_always_stops_the_scheduler(app, smtp_server: SMTPServer):
    """A stop signal landing while the scheduler hands its first jobs to the pool used to
    deadlock (the handler shut the executor down inside the interrupted submit): 13 of 15."""
    env = sender_job(database_url=app.config["SQLALCHEMY_DATABASE_URI"],
                     smtp_port=smtp_server.port, deliver_seconds=0.5)
    outcomes = []
    for delay_ms in (0, 1, 2, 4, 8, 15):
        process = subprocess.Popen([sys.executable, "-m", "tests.helpers_sender", "scheduler"],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        try:
            for line in process.stderr:
                if "scheduler started" in line:
                    break
            time.sleep(delay_ms / 1000)
            process.send_signal(signal.SIGTERM)
            _out, err = process.communicate(timeout=20)
            outcomes.append((delay_ms, process.returncode, "scheduler stopping" in err))
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            outcomes.append((delay_ms, "hung", False))
    assert outcomes == [(d, 0, True) for d in (0, 1, 2, 4, 8, 15)]
