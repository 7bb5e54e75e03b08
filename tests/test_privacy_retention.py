"""Retention housekeeping (app/privacy/retention.py): exactly the rows past their period go, in
bounded batches, and the editions' reports read the same afterwards."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.engagement.queries import edition_readership
from app.extensions import db
from app.jobs import registered_jobs
from app.models import AuditEvent
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import EditionStatus
from app.models import EngagementEvent
from app.models import utcnow
from app.newsletter.queries import progress
from app.privacy import retention
from app.scim.queries import USER_DELETED


def _audit_rows(count: int, days_ago: float, action: str = "story.edit") -> None:
    at = utcnow() - timedelta(days=days_ago)
    db.session.execute(sa.insert(AuditEvent), [
        {"action": action, "object_type": "story", "object_id": i, "details": {"n": i},
         "created_at": at} for i in range(count)])


def _sent_edition(make_edition, recipients: int, days_ago: float, *, failed: int = 0):
    sent_at = utcnow() - timedelta(days=days_ago)
    edition = make_edition(status=EditionStatus.SENT, sent_at=sent_at,
                           recipients_count=recipients, sent_count=recipients - failed,
                           failed_count=failed, content_html="<p>x</p>")
    db.session.execute(sa.insert(Delivery), [
        {"edition_id": edition.id, "email": f"r{i}@example.com", "message_id": f"<{i}@x>",
         "status": DeliveryStatus.FAILED if i < failed else DeliveryStatus.SENT,
         "sent_at": None if i < failed else sent_at, "created_at": sent_at}
        for i in range(recipients)])
    db.session.execute(sa.insert(EngagementEvent), [
        {"edition_id": edition.id, "kind": "open", "tag": f"a{i}", "at": sent_at}
        for i in range(0, recipients, 3)])
    return edition


def _count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


@pytest.fixture
def statements(app):
    """DELETE statements sent to the database while the test runs."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            seen.append(statement)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", record)


def test_deletes_exactly_the_old_rows_in_batches(app, make_edition, set_privacy, statements):
    set_privacy(retention_audit_days=30, retention_delivery_days=100)
    _audit_rows(4500, days_ago=31)
    _audit_rows(120, days_ago=29)
    _audit_rows(3, days_ago=400, action=USER_DELETED)  # carries SCIM state: kept
    _audit_rows(2, days_ago=400, action="user.erase")  # the proof of an erasure: kept
    old = _sent_edition(make_edition, 2600, days_ago=101, failed=7)
    recent = _sent_edition(make_edition, 40, days_ago=99)
    sending = make_edition(status=EditionStatus.SENDING, sent_at=None)
    db.session.add(Delivery(edition_id=sending.id, email="x@example.com", message_id="<s@x>",
                            created_at=utcnow() - timedelta(days=200)))
    db.session.commit()
    reports = {e.id: (edition_readership(e), progress(e)) for e in (old, recent)}
    assert retention.due().as_dict() == {"audit": 4500, "deliveries": 2600}

    statements.clear()
    pruned = retention.run(batch=1000)
    assert pruned.as_dict() == {"audit": 4500, "deliveries": 2600}
    # 5 batches of audit entries, 3 of deliveries: no giant single statement.
    assert len([s for s in statements if "audit_events" in s]) == 5
    assert len([s for s in statements if "deliveries" in s]) == 3

    db.session.expire_all()
    assert _count(AuditEvent) == 120 + 3 + 2 + 1  # + set_privacy's own settings.update
    assert _count(Delivery, Delivery.edition_id == old.id) == 0
    assert _count(Delivery, Delivery.edition_id == recent.id) == 40
    assert _count(Delivery, Delivery.edition_id == sending.id) == 1
    # The reports read exactly as before (the edition keeps its own counts).
    for edition in (old, recent):
        assert (edition_readership(edition), progress(edition)) == reports[edition.id]
    assert retention.due().as_dict() == {"audit": 0, "deliveries": 0}
    assert retention.run().as_dict() == {"audit": 0, "deliveries": 0}


def test_zero_keeps_for_ever(app, make_edition, set_privacy):
    set_privacy(retention_audit_days=0, retention_delivery_days=0)
    _audit_rows(10, days_ago=3000)
    _sent_edition(make_edition, 5, days_ago=3000)
    db.session.commit()
    assert retention.run().as_dict() == {"audit": 0, "deliveries": 0}
    assert _count(AuditEvent, AuditEvent.action == "story.edit") == 10
    assert _count(Delivery) == 5


def test_delivery_rows_outlive_per_person_reading_data(app, make_edition, set_privacy):
    """Per-person analytics reads delivery rows for the per-team table: they stay at least as
    long as the per-person data (engagement_person_days)."""
    set_privacy(retention_delivery_days=30, engagement_person_days=90)
    _sent_edition(make_edition, 5, days_ago=60)
    _sent_edition(make_edition, 4, days_ago=91)
    db.session.commit()
    assert retention.run().as_dict() == {"audit": 0, "deliveries": 4}


def test_the_job_stops_between_batches(app, set_privacy):
    set_privacy(retention_audit_days=1)
    _audit_rows(30, days_ago=2)
    db.session.commit()
    calls = iter([False, True])
    assert retention.run(lambda: next(calls, True), batch=10).audit == 10
    assert _count(AuditEvent, AuditEvent.action == "story.edit") == 20


def test_the_job_is_registered_and_runs(app, set_privacy):
    from app.privacy import subscribers  # register_subscribers imports it in the app

    job = next(j for j in registered_jobs() if j.id == "retention")
    assert job.run is subscribers.retention_job
    assert job.every == "SCHEDULER_RETENTION_SECONDS"
    assert app.config[job.every] == 24 * 3600
    set_privacy(retention_audit_days=1)
    _audit_rows(3, days_ago=2)
    db.session.commit()
    assert job.run(lambda: False) == 3


# Admin → Privacy -----------------------------------------------------------------------------
def test_privacy_page_saves_settings_and_shows_what_would_go(app, admin_client, set_privacy):
    _audit_rows(7, days_ago=800)
    db.session.commit()
    page = admin_client.get("/admin/privacy")
    assert page.status_code == 200
    assert 'data-count="audit">7<' in page.get_data(as_text=True)
    response = admin_client.post("/admin/privacy", data={
        "erasure_account": "remove", "erasure_stories": "remove",
        "retention_audit_days": "3650", "retention_delivery_days": "0"})
    assert response.status_code == 302
    from app.settings import get_settings

    assert get_settings("erasure_account", "erasure_stories", "retention_audit_days",
                        "retention_delivery_days") == {
        "erasure_account": "remove", "erasure_stories": "remove",
        "retention_audit_days": 3650, "retention_delivery_days": 0}
    page = admin_client.get("/admin/privacy").get_data(as_text=True)
    assert 'data-count="audit">0<' in page


def test_privacy_page_refuses_bad_values_and_keeps_them(app, admin_client):
    response = admin_client.post("/admin/privacy", data={
        "erasure_account": "shred", "erasure_stories": "keep",
        "retention_audit_days": "99999", "retention_delivery_days": "12"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "between 0 and 3650" in body and 'value="99999"' in body
    from app.settings import get_settings

    assert get_settings("retention_delivery_days")["retention_delivery_days"] == 400


def test_only_admins_open_the_privacy_page(app, editor_client):
    assert editor_client.get("/admin/privacy").status_code == 403


# What other features read back from the audit log, and the sender's stored counts --------------
def test_audit_rows_other_features_read_as_state_are_kept(app, admin, make_edition,
                                                          set_privacy):
    """A story held back from an edition stays held (the editions feature reads the latest
    placement decision from the log), and the recipient report, the scheduler's once-per-slot
    decisions and the outage alert survive too; ordinary old entries still go."""
    from app import audit
    from app.editions.queries import held_refs
    from app.editions.queries import pool_refs
    from app.models import SubmissionStatus
    from app.newsletter.due import EMPTY_WEEK
    from app.newsletter.due import MISSED
    from app.newsletter.queries import recipient_report
    from app.newsletter.sending import SEND_OUTAGE_ALERT
    from tests import factories

    set_privacy(retention_audit_days=30)
    held = factories.make_story(admin, status=SubmissionStatus.APPROVED, title="Held back")
    waiting = factories.make_story(admin, status=SubmissionStatus.APPROVED, title="Waiting")
    edition = make_edition()
    audit.record(admin, "story.add_to_edition", held, edition=edition.number)
    audit.record(admin, "story.remove_from_edition", held, edition=edition.number)
    audit.record(None, "edition.recipients", edition, recipients=12, skipped_invalid=1)
    for action in (MISSED, EMPTY_WEEK, SEND_OUTAGE_ALERT):
        audit.record(None, action, edition, due_at="2026-01-02T09:00:00+00:00")
    db.session.flush()
    db.session.execute(sa.update(AuditEvent).values(created_at=utcnow() - timedelta(days=60)))
    _audit_rows(5, days_ago=60)
    db.session.commit()
    assert held_refs(pool_refs()) == {("story", held.id)}

    due = retention.due().audit  # the five, and the settings change made above
    assert due == _count(AuditEvent) - 6  # two placements, the report, three slot records
    assert retention.run().as_dict() == {"audit": due, "deliveries": 0}
    assert _count(AuditEvent, AuditEvent.action == "story.edit") == 0
    assert held_refs(pool_refs()) == {("story", held.id)}
    assert ("story", waiting.id) in pool_refs()
    assert recipient_report(edition.id) == {"recipients": 12, "skipped_invalid": 1}
    for action in (MISSED, EMPTY_WEEK, SEND_OUTAGE_ALERT, "story.add_to_edition"):
        assert _count(AuditEvent, AuditEvent.action == action) == 1, action


def test_a_rerun_after_pruning_keeps_the_editions_counts(app, make_edition, set_privacy):
    """`flask editions send N` on a sent edition recounts from its delivery rows: once
    retention pruned them, the stored counts stay as they were (not zeros)."""
    from app.models import Edition
    from app.newsletter.sending import run_edition

    set_privacy(retention_delivery_days=1, engagement_person_days=1)
    edition = _sent_edition(make_edition, 9, days_ago=5, failed=2)
    db.session.commit()
    before = (edition.recipients_count, edition.sent_count, edition.failed_count)
    report, figures = edition_readership(edition), progress(edition)
    assert retention.run().deliveries == 9
    run_edition(edition.id, force=True)
    db.session.expire_all()
    edition = db.session.get(Edition, edition.id)
    assert (edition.recipients_count, edition.sent_count, edition.failed_count) == before == (
        9, 7, 2)
    assert (edition_readership(edition), progress(edition)) == (report, figures)


def test_delivery_rows_outlive_the_relays_sending_window(app, make_edition, set_privacy):
    """The relay's cap counts messages sent in its window from delivery rows: a 7-day window
    keeps a week of rows whatever the shorter retention says."""
    set_privacy(retention_delivery_days=1, engagement_person_days=1, send_cap_messages=1000,
                send_cap_window_hours=150)  # 6.25 days → 7
    kept = _sent_edition(make_edition, 3, days_ago=6.5)
    _sent_edition(make_edition, 4, days_ago=7.5)
    db.session.commit()
    assert retention.run().as_dict() == {"audit": 0, "deliveries": 4}
    assert _count(Delivery, Delivery.edition_id == kept.id) == 3
