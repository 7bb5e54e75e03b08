"""Review services: decisions, edits with revisions, bulk approval, optimistic locking (stale
pages and true races between two connections), and the change summaries for authors."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC
from datetime import datetime

import pytest

from app.database import begin_write
from app.errors import Conflict
from app.errors import IllegalTransition
from app.errors import PermissionDenied
from app.errors import ValidationError
from app.extensions import db as _db
from app.models import AuditEvent
from app.models import EditionItem
from app.models import Revision
from app.models import Role
from app.models import Story
from app.models import SubmissionStatus
from app.models import Tag
from app.models import User
from app.review import services
from app.review.queries import conflict_message
from app.review.queries import when_label
from app.review.services import ItemRef
from app.settings import set_settings
from app.submissions.rules import quote_input
from app.submissions.rules import story_input

S = SubmissionStatus


def story_edit(story: Story, **changes):
    """What the editor's form sends: the stored story with some fields changed."""
    return replace(story_input(story), **changes)


def quote_edit(quote, **changes):
    return replace(quote_input(quote), **changes)


@pytest.fixture
def dana(db, make_user):
    user = make_user(Role.EDITOR, display_name="Dana Whitfield")
    db.session.commit()
    return user


@pytest.fixture
def sam(db, make_user):
    user = make_user(Role.EDITOR, display_name="Sam Okafor")
    db.session.commit()
    return user


def _actions(db, obj_type: str | None = None) -> list[str]:
    query = db.select(AuditEvent.action).order_by(AuditEvent.id)
    if obj_type:
        query = query.where(AuditEvent.object_type == obj_type)
    return list(db.session.scalars(query))


# -- decisions -----------------------------------------------------------------------------------


def test_approve_lines_the_item_up_and_tells_the_author_after_commit(db, make_story, dana, outbox):
    story = make_story(status=S.SUBMITTED)
    db.session.commit()
    entry = services.approve(story, actor=dana, seen_version=1)
    assert outbox == []  # not before the commit
    db.session.commit()
    assert story.status == S.APPROVED and story.approved_at is not None
    assert entry.edition.number == 1 and entry.position == 0
    assert _actions(db, "story") == ["story.approve", "story.add_to_edition"]
    assert [m["To"] for m in outbox] == [story.author.email]
    assert "approved" in outbox[0]["Subject"]


def test_a_rolled_back_decision_sends_nothing(db, make_story, dana, outbox):
    story = make_story(status=S.SUBMITTED)
    db.session.commit()
    services.approve(story, actor=dana, seen_version=1)
    db.session.rollback()
    assert outbox == []


def test_approved_items_are_added_in_approval_order(db, make_story, make_quote, dana):
    first, second, third = (make_story(status=S.SUBMITTED), make_quote(status=S.SUBMITTED),
                            make_story(status=S.SUBMITTED))
    db.session.commit()
    for item in (second, third, first):
        services.approve(item, actor=dana, seen_version=1)
    db.session.commit()
    entries = db.session.scalars(db.select(EditionItem).order_by(EditionItem.position)).all()
    assert [e.content for e in entries] == [second, third, first]


def test_request_changes_and_reject_need_a_note_and_notify(db, make_story, make_quote, dana,
                                                          outbox):
    story, quote = make_story(status=S.SUBMITTED), make_quote(status=S.SUBMITTED)
    db.session.commit()
    with pytest.raises(ValidationError, match="note for the author"):
        services.request_changes(story, actor=dana, seen_version=1, note="  \n ")
    with pytest.raises(ValidationError, match="the reason"):
        services.reject(quote, actor=dana, seen_version=1, reason="")
    services.request_changes(story, actor=dana, seen_version=1, note="Add the customer's words")
    services.reject(quote, actor=dana, seen_version=1, reason="We had this one last week")
    db.session.commit()
    assert story.status == S.CHANGES_REQUESTED and story.editor_note == "Add the customer's words"
    assert quote.status == S.REJECTED and quote.editor_note == "We had this one last week"
    bodies = [m.get_body(("plain",)).get_content() for m in outbox]
    assert any("Add the customer's words" in b for b in bodies)
    assert any("We had this one last week" in b for b in bodies)


def test_employees_cannot_decide(db, make_story, employee):
    story = make_story(status=S.SUBMITTED)
    db.session.commit()
    with pytest.raises(PermissionDenied):
        services.approve(story, actor=employee, seen_version=1)


# -- optimistic locking --------------------------------------------------------------------------


def test_stale_page_gets_who_did_what_and_when_in_the_org_timezone(db, make_story, dana, sam):
    set_settings({"timezone": "Europe/Paris"}, actor=None)
    story = make_story(status=S.SUBMITTED)
    db.session.commit()
    services.approve(story, actor=dana, seen_version=1)
    db.session.commit()
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "story.approve"))
    local = event.created_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    with pytest.raises(Conflict) as caught:
        services.reject(story, actor=sam, seen_version=1, reason="no")
    assert caught.value.message == f"Already approved by Dana Whitfield at {local:%H:%M}."
    db.session.rollback()
    assert _actions(db, "story").count("story.reject") == 0


def test_when_label_uses_the_org_timezone_and_dates_other_days(app):
    set_settings({"timezone": "Europe/Paris"}, actor=None)
    at = datetime(2026, 3, 2, 9, 42, tzinfo=UTC)
    assert when_label(at, now=at) == "10:42"
    assert when_label(at, now=datetime(2026, 3, 5, tzinfo=UTC)) == "Mon 2 Mar, 10:42"


def test_conflict_messages_name_each_kind_of_change(db, make_story, dana):
    story = make_story(status=S.SUBMITTED)
    db.session.commit()
    services.request_changes(story, actor=dana, seen_version=1, note="More detail")
    db.session.commit()
    assert conflict_message("story", story.id).startswith(
        "Dana Whitfield already asked the author for changes at")
    with pytest.raises(Conflict, match="already asked the author"):
        services.approve(story, actor=dana, seen_version=1)


def _in_other_connection(app, target, *args) -> tuple[threading.Event, threading.Event, list]:
    """Run `target(*args)` in its own app context (own session and connection): it signals
    `flushed` once its change is written but not committed, then commits on `release`."""
    flushed, release, errors = threading.Event(), threading.Event(), []

    def run() -> None:
        try:
            with app.app_context():
                target(*args)
                flushed.set()
                release.wait(10)
                _db.session.commit()
        except Exception as error:  # reported by the test
            errors.append(error)
            flushed.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return flushed, release, errors, thread


def test_true_race_between_two_connections_on_the_same_row(app, db, make_story, dana, sam,
                                                           outbox):
    story = make_story(status=S.SUBMITTED)
    db.session.commit()
    story_id, dana_id = story.id, dana.id
    # Sam's request has read the story (version 1) and passes the version check...
    mine = db.session.get(Story, story_id)
    assert mine.version == 1

    def dana_approves() -> None:
        services.approve(_db.session.get(Story, story_id), actor=_db.session.get(User, dana_id),
                         seen_version=1)

    # ...while Dana's approval, in another connection, holds the row until it commits.
    flushed, release, errors, thread = _in_other_connection(app, dana_approves)
    assert flushed.wait(10)
    threading.Timer(0.3, release.set).start()
    begin_write()  # Sam's POST: SQLite queues it behind Dana's write, PostgreSQL at her row lock
    with pytest.raises(Conflict, match=r"^Already approved by Dana Whitfield at \d\d:\d\d\.$"):
        services.reject(mine, actor=sam, seen_version=1, reason="Not for us")
    db.session.rollback()  # Sam's request ends (on SQLite its lock would hold Dana's mail up)
    thread.join(10)
    assert errors == []
    db.session.expire_all()
    assert db.session.get(Story, story_id).status == S.APPROVED
    assert _actions(db, "story").count("story.approve") == 1
    assert "story.reject" not in _actions(db, "story")
    assert len(outbox) == 1  # Dana's approval email only


def test_true_race_between_two_edits_loses_nothing(app, db, make_story, dana, sam):
    story = make_story(status=S.SUBMITTED, title="Original title")
    db.session.commit()
    story_id, dana_id = story.id, dana.id
    mine = db.session.get(Story, story_id)
    body = mine.body_md

    def dana_edits() -> None:
        theirs = _db.session.get(Story, story_id)
        services.edit_item(theirs, story_edit(theirs, title="Dana's title", body_md=body),
                           actor=_db.session.get(User, dana_id), seen_version=1)

    flushed, release, errors, thread = _in_other_connection(app, dana_edits)
    assert flushed.wait(10)
    threading.Timer(0.3, release.set).start()
    begin_write()  # Sam's POST (see above)
    with pytest.raises(Conflict, match="Dana Whitfield edited this story at"):
        services.edit_item(mine, story_edit(mine, title="Sam's title"), actor=sam,
                           seen_version=1)
    db.session.rollback()
    thread.join(10)
    assert errors == []
    db.session.expire_all()
    assert db.session.get(Story, story_id).title == "Dana's title"
    titles = [r.data["title"] for r in db.session.scalars(
        db.select(Revision).order_by(Revision.number))]
    assert titles == ["Original title", "Dana's title"]


# -- bulk ----------------------------------------------------------------------------------------


def test_bulk_approve_isolates_each_item(db, make_story, make_quote, dana, sam, outbox):
    a, b, q = make_story(status=S.SUBMITTED), make_story(status=S.SUBMITTED), make_quote(
        status=S.SUBMITTED)
    db.session.commit()
    services.edit_item(b, story_edit(b, title="Changed by Dana"), actor=dana, seen_version=1)
    db.session.commit()
    refs = [ItemRef("story", a.id, 1), ItemRef("story", b.id, 1), ItemRef("quote", q.id, 1),
            ItemRef("story", a.id, 1), ItemRef("story", 999999, 1)]
    results = services.bulk_approve(refs, actor=sam)
    db.session.commit()
    assert [r.ok for r in results] == [True, False, True, False]
    assert "Dana Whitfield edited this story at" in results[1].message
    assert "no longer exists" in results[3].message
    assert (a.status, b.status, q.status) == (S.APPROVED, S.SUBMITTED, S.APPROVED)
    assert len(outbox) == 2


def test_bulk_approve_limits_and_parsing():
    with pytest.raises(ValidationError, match="at least one"):
        services.bulk_approve([], actor=User(role=Role.EDITOR, is_active_user=True))
    with pytest.raises(ValidationError):
        ItemRef.parse("story:abc:1")
    with pytest.raises(ValidationError):
        ItemRef.parse("user:1:1")
    assert str(ItemRef.parse("quote:3:7")) == "quote:3:7"


# -- edits and revisions -------------------------------------------------------------------------


def test_first_edit_keeps_the_original_then_the_edit(db, make_story, dana):
    story = make_story(status=S.SUBMITTED, title="A good day", tags=["travel"])
    db.session.commit()
    revision = services.edit_item(story, story_edit(
        story, title="A very good day", body_md=story.body_md + " Truly.",
        tags=["Travel", "#Loyalty "], customer_segment="retail banking",
    ), actor=dana, seen_version=1)
    db.session.commit()
    assert revision.number == 2 and revision.author_id == dana.id
    base = db.session.scalar(db.select(Revision).where(Revision.number == 1))
    assert base.author_id == story.author_id and base.author_notified
    assert base.data["title"] == "A good day"
    assert [t.name for t in story.tags] == ["loyalty", "travel"]
    assert story.customer_display == "a customer in retail banking"
    assert story.version == 2
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "story.editor_edit"))
    assert event.details["revision"] == 2
    assert set(event.details["fields"]) == {"title", "body_md", "tags", "customer_segment"}


def test_no_change_no_revision(db, make_story, dana):
    story = make_story(status=S.SUBMITTED)
    db.session.commit()
    assert services.edit_item(story, story_edit(story), actor=dana, seen_version=1) is None
    assert db.session.scalar(db.select(db.func.count()).select_from(Revision)) == 0
    assert story.version == 1


def test_edit_builds_on_the_authors_latest_revision(db, make_story, dana):
    from app.submissions.services import snapshot

    story = make_story(status=S.SUBMITTED)
    db.session.add(Revision(object_type="story", object_id=story.id, number=1,
                            data=snapshot(story), author_id=story.author_id, author_notified=True))
    db.session.commit()
    revision = services.edit_item(story, story_edit(story, title="Better"), actor=dana,
                                  seen_version=1)
    assert revision.number == 2  # no extra baseline: revision 1 is exactly the starting point


def test_quote_edit_and_validation(db, make_quote, dana):
    quote = make_quote(status=S.APPROVED, text="Great help.", customer_consent=True,
                       customer_name="Mark")
    db.session.commit()
    with pytest.raises(ValidationError) as caught:
        services.edit_item(quote, quote_edit(quote, text="Hi", customer_name="x" * 200),
                           actor=dana, seen_version=1)
    assert set(caught.value.errors) == {"text", "customer_name"}
    db.session.rollback()
    services.edit_item(quote, quote_edit(quote, text="Great help, thank you.", anonymous=True),
                       actor=dana, seen_version=1)
    db.session.commit()
    assert quote.attribution.startswith("A customer")
    assert "thank you" in quote.text_html


def test_story_validation_reports_every_field(db, make_story, dana):
    story = make_story(status=S.SUBMITTED)
    db.session.commit()
    with pytest.raises(ValidationError) as caught:
        services.edit_item(story, story_edit(story, title="", body_md="short", tags=["a/b"],
                                             touchpoint_id=999999), actor=dana, seen_version=1)
    assert set(caught.value.errors) == {"title", "body", "tags", "touchpoint"}
    db.session.rollback()
    assert db.session.scalar(db.select(db.func.count()).select_from(Tag)) == 0


def test_published_items_cannot_be_edited(db, make_story, dana):
    story = make_story(status=S.PUBLISHED)
    db.session.commit()
    with pytest.raises(IllegalTransition):
        services.edit_item(story, story_edit(story, title="New"), actor=dana, seen_version=1)


# -- telling authors -----------------------------------------------------------------------------


def test_pending_change_summaries_and_marking(db, make_story, dana):
    story = make_story(status=S.APPROVED, title="Old title")
    untouched = make_story(status=S.APPROVED)
    db.session.commit()
    services.edit_item(story, story_edit(story, title="New title"), actor=dana, seen_version=1)
    services.edit_item(story, story_edit(story, title="Newer title", tags=["kindness"]),
                       actor=dana, seen_version=2)
    db.session.commit()
    summaries = services.pending_change_summaries([story, untouched])
    assert summaries == {
        story.id: "Title: “Old title” became “Newer title”.\nTags: added “kindness”."}
    services.mark_changes_notified([story])
    db.session.commit()
    assert services.pending_change_summaries([story]) == {}


def test_an_authors_edit_between_editor_edits_is_not_blamed_on_editors(db, make_story, dana):
    story = make_story(status=S.SUBMITTED, title="One")
    db.session.commit()
    author = story.author
    rows = [("One", author.id, True), ("Two", dana.id, False), ("Three", author.id, True),
            ("Four", dana.id, False)]
    for number, (title, who, told) in enumerate(rows, start=1):
        db.session.add(Revision(object_type="story", object_id=story.id, number=number,
                                data={"title": title}, author_id=who, author_notified=told))
    db.session.commit()
    assert services.pending_change_summaries([story]) == {
        story.id: "Title: “One” became “Two”.\nTitle: “Three” became “Four”."}


def test_summaries_take_one_kind_at_a_time(db, make_story, make_quote):
    with pytest.raises(ValueError, match="not both"):
        services.pending_change_summaries([make_story(), make_quote()])
