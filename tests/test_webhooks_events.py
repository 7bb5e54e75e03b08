"""Domain events → webhook deliveries, end to end: sending an edition through the real sender
(SMTP on loopback) delivers a correctly signed `edition.sent` (and story / quote / featured /
status events) to a real HTTP endpoint on loopback, which verifies it with `standardwebhooks`;
one row per subscribed endpoint per event; a re-dispatched event adds nothing; only published
content's words go out."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from app import events
from app.database import begin_write
from app.events import ChangesRequested
from app.events import SubmissionRejected
from app.events import SubmissionSubmitted
from app.extensions import db
from app.models import DomainEvent
from app.models import EventDelivery
from app.models import SubmissionStatus
from app.models import WebhookDelivery
from app.models import WebhookDeliveryStatus
from app.newsletter import sending
from app.review import services as review
from app.webhooks.delivery import wait_for_deliveries
from tests import factories
from tests.fixtures.smtp import configure_app_for
from tests.fixtures.webhooks import make_endpoint
from tests.fixtures.webhooks import received
from tests.fixtures.webhooks import verified
from tests.helpers_sender import seed_edition
from tests.helpers_sender import story_of

S = WebhookDeliveryStatus


def _rows() -> list[WebhookDelivery]:
    db.session.commit()
    return list(db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)))


@pytest.fixture
def sent_edition(app, smtp_server, webhook_server):
    """An edition sent through the real sender, three endpoints: all events, edition.sent
    only, and one not subscribed to edition.sent."""
    configure_app_for(app, smtp_server)
    webhook_server.expect_request("/all", method="POST").respond_with_data("ok")
    webhook_server.expect_request("/editions", method="POST").respond_with_data("", status=204)
    webhook_server.expect_request("/stories", method="POST").respond_with_data("ok")
    edition = seed_edition(recipients=2)
    everything = make_endpoint(webhook_server.url_for("/all"))
    editions = make_endpoint(webhook_server.url_for("/editions"), events=["edition.sent"])
    stories = make_endpoint(webhook_server.url_for("/stories"), events=["story.published"])
    make_endpoint(webhook_server.url_for("/off"), active=False)  # receives nothing
    db.session.commit()
    sending.run_edition(edition.id)
    assert wait_for_deliveries(app, 30)
    return edition, everything, editions, stories


def test_a_sent_edition_reaches_a_loopback_endpoint_signed_and_verified(app, sent_edition,
                                                                        webhook_server):
    edition, everything, editions, _stories = sent_edition
    story = story_of(edition)
    quote = next(i.quote for i in edition.items if i.quote is not None)

    [request] = received(webhook_server, "/editions")
    body = verified(request, editions.secret)  # raises unless genuine and fresh
    assert body["type"] == "edition.sent"
    assert body["timestamp"].endswith("Z")
    data = body["data"]
    assert (data["id"], data["number"], data["subject"]) == (edition.id, edition.number,
                                                             edition.subject)
    assert data["url"] == f"http://localhost/editions/{edition.number}"
    assert data["api_url"] == f"http://localhost/api/v1/editions/{edition.id}"
    assert data["stories"] == [{"id": story.id, "title": story.title,
                                "url": f"http://localhost/stories/{story.id}",
                                "api_url": f"http://localhost/api/v1/stories/{story.id}"}]
    assert [q["api_url"] for q in data["quotes"]] == [
        f"http://localhost/api/v1/quotes/{quote.id}"]
    assert data["sent_at"].endswith("Z")
    assert request.headers["User-Agent"] == "FeelGoodFridays-Webhooks/1"

    # The "all events" endpoint got each published happening once, each signed with its secret.
    types = sorted(verified(r, everything.secret)["type"] for r in received(webhook_server, "/all"))
    assert types == sorted(["edition.sent", "story.published", "quote.published",
                            "colleague.featured", "colleague.featured",
                            "submission.status_changed", "submission.status_changed"])
    [story_body] = [verified(r, _stories.secret) for r in received(webhook_server, "/stories")]
    assert story_body["data"]["title"] == story.title
    assert sorted(c["name"] for c in story_body["data"]["colleagues"]) == [
        "Amina Diallo", "Noah Levi"]
    assert received(webhook_server, "/off") == []


def test_one_row_per_subscribed_endpoint_per_event(sent_edition):
    _edition, everything, editions, stories = sent_edition
    rows = _rows()
    per_endpoint = {}
    for row in rows:
        per_endpoint.setdefault(row.endpoint_id, []).append(row.event_type)
    assert sorted(per_endpoint[editions.id]) == ["edition.sent"]
    assert sorted(per_endpoint[stories.id]) == ["story.published"]
    assert len(per_endpoint[everything.id]) == 7
    assert len(rows) == 9 and {r.status for r in rows} == {S.DELIVERED}
    assert all(r.attempts == 1 for r in rows)
    assert len({r.message_id for r in rows}) == 9


def test_a_redispatched_event_adds_nothing(app, sent_edition, webhook_server):
    before = len(_rows())
    # Forget that the webhook subscribers ran, as after a crash between their commit and the
    # event's marker: the events are offered to them again.
    names = [s.name for s in events.subscribers_for("edition.sent")
             if s.name.startswith("app.webhooks")]
    db.session.execute(sa.delete(EventDelivery).where(EventDelivery.subscriber.in_(names)))
    db.session.execute(sa.update(DomainEvent).values(dispatched_at=None))
    db.session.commit()
    ids = list(db.session.scalars(sa.select(DomainEvent.id)))
    db.session.commit()
    stats = events.dispatch(ids)
    assert stats.done >= 1
    assert wait_for_deliveries(app, 30)
    assert len(_rows()) == before
    assert len(received(webhook_server, "/editions")) == 1


def test_status_changes_carry_ids_and_statuses_and_no_unpublished_text(app, webhook_server,
                                                                       editor):
    webhook_server.expect_request("/status").respond_with_data("ok")
    endpoint = make_endpoint(webhook_server.url_for("/status"),
                             events=["submission.status_changed"])
    db.session.commit()
    secret_title = "A confidential story title"
    story = factories.make_story(title=secret_title, status=SubmissionStatus.SUBMITTED)
    db.session.commit()
    review.reject(story, actor=editor, seen_version=story.version, reason="Not this time")
    db.session.commit()
    assert wait_for_deliveries(app, 30)

    [request] = received(webhook_server, "/status")
    raw = request.get_data(as_text=True)
    assert secret_title not in raw and "Not this time" not in raw
    body = verified(request, endpoint.secret)
    assert body["type"] == "submission.status_changed"
    assert body["data"] == {"item_kind": "story", "item_id": story.id,
                            "old_status": "submitted", "new_status": "rejected",
                            "edition_id": None}


def test_dedupe_key_is_stable_for_an_event_and_differs_between_events(app):
    # Imported here, not at collection: the app factory registers the features' subscribers
    # in its order (tests/test_events.py checks that order).
    from app.webhooks import subscribers

    a = SubmissionSubmitted(item_kind="story", item_id=1, author_id=2)
    assert subscribers.dedupe_key(a) == subscribers.dedupe_key(
        SubmissionSubmitted.from_payload(json.loads(json.dumps(a.payload()))))
    others = [SubmissionSubmitted(item_kind="story", item_id=1, author_id=2, resubmitted=True),
              SubmissionSubmitted(item_kind="quote", item_id=1, author_id=2),
              SubmissionRejected(item_kind="story", item_id=1, actor_id=2, reason="x")]
    keys = {subscribers.dedupe_key(e) for e in [a, *others]}
    assert len(keys) == 4 and all(len(k) <= 120 for k in keys)


def test_no_endpoint_means_no_rows(app, smtp_server):
    configure_app_for(app, smtp_server)
    edition = seed_edition(recipients=1)
    db.session.commit()
    sending.run_edition(edition.id)
    assert _rows() == []


def test_two_identical_happenings_are_two_deliveries(app, webhook_server, editor):
    """The key is the domain event's row, not its fields: the same note twice on one item (sent
    back, resubmitted, sent back again) is two status changes."""
    webhook_server.expect_request("/status").respond_with_data("ok")
    endpoint = make_endpoint(webhook_server.url_for("/status"),
                             events=["submission.status_changed"])
    story = factories.make_story(status=SubmissionStatus.SUBMITTED)
    db.session.commit()
    for _ in range(2):
        begin_write()  # SQLite: queue for the lock (the first delivery's thread may hold it)
        events.emit(ChangesRequested(item_kind="story", item_id=story.id, actor_id=editor.id,
                                     note="Add a photo"))
        db.session.commit()
    assert wait_for_deliveries(app, 30)

    rows = _rows()
    assert [(r.event_type, r.status) for r in rows] == [
        ("submission.status_changed", S.DELIVERED)] * 2
    assert len({r.dedupe_key for r in rows}) == 2
    assert all(re.fullmatch(r"submission\.status_changed:event:\d+", r.dedupe_key) for r in rows)
    bodies = [verified(r, endpoint.secret)["data"] for r in received(webhook_server, "/status")]
    assert bodies == [{"item_kind": "story", "item_id": story.id, "old_status": "submitted",
                       "new_status": "changes_requested", "edition_id": None}] * 2


def test_a_withdrawal_is_a_status_change_from_each_of_its_three_sources(
        app, webhook_server, employee, employee_client):
    """draft / submitted / changes_requested → withdrawn: the old status comes from the event
    (the row says only "withdrawn" afterwards), emitted with the change."""
    webhook_server.expect_request("/status").respond_with_data("ok")
    endpoint = make_endpoint(webhook_server.url_for("/status"),
                             events=["submission.status_changed"])
    draft = factories.make_story(employee, status=SubmissionStatus.DRAFT)
    waiting = factories.make_quote(employee, status=SubmissionStatus.SUBMITTED)
    sent_back = factories.make_story(employee, status=SubmissionStatus.CHANGES_REQUESTED)
    db.session.commit()

    for path in (f"/stories/{draft.id}/withdraw", f"/quotes/{waiting.id}/withdraw",
                 f"/stories/{sent_back.id}/withdraw"):
        assert employee_client.post(path).status_code == 302
        assert wait_for_deliveries(app, 30)
    assert employee_client.post(f"/stories/{draft.id}/withdraw").status_code == 302  # no-op

    recorded = [(e.name, e.payload) for e in db.session.scalars(
        sa.select(DomainEvent).where(DomainEvent.name == "submission.withdrawn")
        .order_by(DomainEvent.id))]
    assert recorded == [
        ("submission.withdrawn", {"item_kind": kind, "item_id": item.id,
                                  "actor_id": employee.id, "previous_status": old})
        for kind, item, old in (("story", draft, "draft"), ("quote", waiting, "submitted"),
                                ("story", sent_back, "changes_requested"))]
    bodies = [verified(r, endpoint.secret)["data"] for r in received(webhook_server, "/status")]
    assert bodies == [
        {"item_kind": "story", "item_id": draft.id, "old_status": "draft",
         "new_status": "withdrawn", "edition_id": None},
        {"item_kind": "quote", "item_id": waiting.id, "old_status": "submitted",
         "new_status": "withdrawn", "edition_id": None},
        {"item_kind": "story", "item_id": sent_back.id, "old_status": "changes_requested",
         "new_status": "withdrawn", "edition_id": None},
    ]
    assert [(r.event_type, r.status) for r in _rows()] == [
        ("submission.status_changed", S.DELIVERED)] * 3


def test_a_refused_withdrawal_emits_nothing(app, employee, make_user):
    from app.errors import DomainError
    from app.submissions import services as submissions

    story = factories.make_story(employee, status=SubmissionStatus.APPROVED)
    intruder = make_user(email="intruder@example.com")
    db.session.commit()
    for actor in (employee, intruder):
        with pytest.raises(DomainError):
            submissions.withdraw(story, actor)
        db.session.rollback()
    assert db.session.scalars(sa.select(DomainEvent).where(
        DomainEvent.name == "submission.withdrawn")).all() == []
