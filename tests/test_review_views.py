"""Review pages through the Flask client: queue and filters, the item page, decisions, edits,
bulk approve, the nav badge, and a constant number of queries whatever the queue's size."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.models import AuditEvent
from app.models import Edition
from app.models import EditionItem
from app.models import Revision
from app.models import Role
from app.models import SubmissionStatus
from app.models import utcnow
from tests.querycount import count_queries

S = SubmissionStatus


@pytest.fixture
def submitted(db, make_user, make_team, make_story, make_quote):
    """Two stories and a quote waiting, oldest first: story A (2 days), quote (1 day), story B."""
    team = make_team("Contact Centre")
    author = make_user(display_name="Priya Raman", team=team)
    colleague = make_user(display_name="Noah Levi")
    now = utcnow()
    a = make_story(author, status=S.SUBMITTED, title="The late-night call", tags=["travel"],
                   colleagues=[colleague], submitted_at=now - timedelta(days=2))
    q = make_quote(author, status=S.SUBMITTED, text="You made my week.",
                   submitted_at=now - timedelta(days=1))
    b = make_story(make_user(display_name="Lucas Ferreira"), status=S.SUBMITTED,
                   title="A birthday at the till", touchpoint_slug="phone",
                   submitted_at=now - timedelta(hours=2))
    db.session.commit()
    return {"a": a, "q": q, "b": b, "team": team, "author": author}


def test_queue_lists_waiting_items_oldest_first(editor_client, submitted):
    page = editor_client.get("/review").get_data(as_text=True)
    first, second, third = (page.index(t) for t in (
        "The late-night call", "You made my week.", "A birthday at the till"))
    assert first < second < third
    assert "3 items waiting" in page
    assert f'value="story:{submitted["a"].id}:1"' in page  # the bulk checkbox carries the version


def test_queue_excerpt_keeps_list_items_on_their_own_lines(editor_client, db, make_story):
    body = "What happened:\n\n- she called back\n- she <b>fixed</b> the booking\n\nThe end."
    make_story(status=S.SUBMITTED, title="Listed", body=body)
    db.session.commit()
    page = editor_client.get("/review").get_data(as_text=True)
    row = page[page.index('class="review-row__excerpt"'):]
    row = row[: row.index("</p>")]
    # Raw HTML in Markdown is text, and stays escaped text in the excerpt.
    assert (
        "What happened:<br>• she called back<br>• she &lt;b&gt;fixed&lt;/b&gt; the booking"
        "<br>The end." in row
    )


def test_queue_filters(editor_client, submitted, db):
    touchpoint_id = submitted["b"].touchpoint_id
    by_kind = editor_client.get("/review?kind=quote").get_data(as_text=True)
    assert "You made my week." in by_kind and "The late-night call" not in by_kind
    by_team = editor_client.get(f"/review?team={submitted['team'].id}").get_data(as_text=True)
    assert "The late-night call" in by_team and "A birthday at the till" not in by_team
    by_touchpoint = editor_client.get(f"/review?touchpoint={touchpoint_id}").get_data(
        as_text=True)
    assert "A birthday at the till" in by_touchpoint
    assert "The late-night call" not in by_touchpoint and "You made my week." not in by_touchpoint
    by_tag = editor_client.get("/review?tag=travel").get_data(as_text=True)
    assert "The late-night call" in by_tag and "A birthday at the till" not in by_tag
    nothing = editor_client.get("/review?tag=nope").get_data(as_text=True)
    assert "No items match" in nothing


def test_empty_queue(editor_client):
    page = editor_client.get("/review").get_data(as_text=True)
    assert "All caught up" in page


def test_nav_badge_counts_waiting_items_in_one_query(app, editor_client, submitted):
    from app.review.queries import waiting_count

    with count_queries() as queries:
        assert waiting_count() == 3
    assert queries.count == 1
    page = editor_client.get("/").get_data(as_text=True)
    assert '<span class="count-badge">3<span class="visually-hidden"> waiting' in page


def test_employees_get_403_and_no_menu_entry(employee_client, submitted):
    assert employee_client.get("/review").status_code == 403
    a = submitted["a"]
    assert employee_client.get(f"/review/story/{a.id}").status_code == 403
    assert employee_client.post(f"/review/story/{a.id}/approve", data={"version": 1}
                                ).status_code == 403
    assert employee_client.post("/review/bulk-approve").status_code == 403
    assert "/review" not in employee_client.get("/").get_data(as_text=True)


def test_item_page_shows_rendered_item_history_and_actions(editor_client, submitted):
    a = submitted["a"]
    page = editor_client.get(f"/review/story/{a.id}").get_data(as_text=True)
    assert "As it will appear in the newsletter" in page
    assert "Celebrating <strong>Noah Levi</strong>" in page
    assert "Request changes" in page and "Reject" in page and "Approve" in page
    assert editor_client.get("/review/story/999999").status_code == 404
    assert editor_client.get(f"/review/banana/{a.id}").status_code == 404


def test_unsubmitted_drafts_are_not_reviewable(editor_client, make_story, db):
    draft = make_story(status=S.DRAFT)
    db.session.commit()
    assert editor_client.get(f"/review/story/{draft.id}").status_code == 404


def test_approve_puts_item_in_upcoming_edition_and_flashes(editor_client, submitted, db, outbox):
    a = submitted["a"]
    response = editor_client.post(f"/review/story/{a.id}/approve", data={"version": 1},
                                  follow_redirects=True)
    assert response.status_code == 200
    assert "lined up for edition #1" in response.get_data(as_text=True)
    db.session.expire_all()
    assert a.status == S.APPROVED
    entry = db.session.scalar(db.select(EditionItem).where(EditionItem.story_id == a.id))
    assert entry.edition.status == "draft"
    assert [m["To"] for m in outbox] == [submitted["author"].email]


def test_second_editor_sees_who_approved_first(app, login_as, make_user, submitted, db):
    dana = make_user(Role.EDITOR, display_name="Dana Whitfield")
    sam = make_user(Role.EDITOR, display_name="Sam Okafor")
    db.session.commit()
    a = submitted["a"]
    dana_client, sam_client = login_as(dana), login_as(sam)
    sam_page = sam_client.get(f"/review/story/{a.id}")  # Sam opens it (version 1)
    assert sam_page.status_code == 200
    assert dana_client.post(f"/review/story/{a.id}/approve", data={"version": 1}).status_code == 302
    response = sam_client.post(f"/review/story/{a.id}/reject",
                               data={"version": 1, "reason": "Too short"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Already approved by Dana Whitfield at" in page
    db.session.expire_all()
    assert a.status == S.APPROVED
    rejections = db.select(db.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "story.reject")
    assert db.session.scalar(rejections) == 0


def test_request_changes_and_reject_need_a_note(editor_client, submitted, db):
    a, q = submitted["a"], submitted["q"]
    response = editor_client.post(f"/review/story/{a.id}/request-changes",
                                  data={"version": 1, "note": "   "})
    assert response.status_code == 400
    assert "Please write a note for the author." in response.get_data(as_text=True)
    response = editor_client.post(f"/review/quote/{q.id}/reject", data={"version": 1, "reason": ""})
    assert response.status_code == 400
    assert "Please write the reason." in response.get_data(as_text=True)
    db.session.expire_all()
    assert a.status == S.SUBMITTED and q.status == S.SUBMITTED


def test_edit_keeps_a_revision_with_a_readable_diff(editor_client, submitted, db):
    a = submitted["a"]
    form = editor_client.get(f"/review/story/{a.id}/edit").get_data(as_text=True)
    assert "The late-night call" in form
    response = editor_client.post(f"/review/story/{a.id}/edit", data={
        "version": 1,
        "title": "The late-night call that saved a holiday",
        "body": a.body_md.replace("delighted", "overjoyed"),
        "tags": "travel, going the extra mile",
        "touchpoint": str(a.touchpoint_id),
        "customer_segment": "a family travelling abroad",
    }, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "kept as a revision" in page
    hidden = '<span class="visually-hidden">'
    assert f'<del class="diff__removed">{hidden}[removed: </span>delighted' in page
    assert f'<ins class="diff__added">{hidden}[added: </span>overjoyed' in page
    assert "Edited by an editor" in page
    revisions = db.session.scalars(db.select(Revision).order_by(Revision.number)).all()
    assert [(r.number, r.author_notified) for r in revisions] == [(1, True), (2, False)]


def test_edit_validation_errors_are_shown_on_the_form(editor_client, submitted):
    a = submitted["a"]
    response = editor_client.post(f"/review/story/{a.id}/edit", data={
        "version": 1, "title": "x", "body": "short"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "a title of at least 3 characters" in page and "the story needs at least" in page


def test_edit_conflict_keeps_the_editors_text(app, login_as, make_user, submitted, db):
    dana = make_user(Role.EDITOR, display_name="Dana Whitfield")
    other = make_user(Role.EDITOR)
    db.session.commit()
    a = submitted["a"]
    login_as(dana).post(f"/review/story/{a.id}/edit", data={
        "version": 1, "title": "Dana's title", "body": a.body_md})
    response = login_as(other).post(f"/review/story/{a.id}/edit", data={
        "version": 1, "title": "My own better title", "body": a.body_md})
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Dana Whitfield edited this story at" in page
    assert 'value="My own better title"' in page
    db.session.expire_all()
    assert a.title == "Dana's title"


def test_bulk_approve_reports_each_item(app, login_as, make_user, submitted, db):
    dana = make_user(Role.EDITOR, display_name="Dana Whitfield")
    other = make_user(Role.EDITOR)
    db.session.commit()
    a, q, b = submitted["a"], submitted["q"], submitted["b"]
    login_as(dana).post(f"/review/quote/{q.id}/reject", data={"version": 1, "reason": "Duplicate"})
    client = login_as(other)
    response = client.post("/review/bulk-approve", data={
        "items": [f"story:{a.id}:1", f"quote:{q.id}:1", f"story:{b.id}:1"]},
        follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Approved 2 of 3 selected items" in page
    assert "was not approved: Already rejected by Dana Whitfield at" in page
    db.session.expire_all()
    assert (a.status, q.status, b.status) == (S.APPROVED, S.REJECTED, S.APPROVED)


def test_bulk_approve_needs_a_selection(editor_client, submitted):
    page = editor_client.post("/review/bulk-approve", follow_redirects=True).get_data(as_text=True)
    assert "Select at least one item to approve." in page


def test_approve_into_a_chosen_open_edition(editor_client, submitted, make_edition, db):
    scheduled = make_edition(status="scheduled")
    db.session.commit()
    a = submitted["a"]
    editor_client.post(f"/review/story/{a.id}/approve",
                       data={"version": 1, "edition": str(scheduled.id)})
    entry = db.session.scalar(db.select(EditionItem).where(EditionItem.story_id == a.id))
    assert entry.edition_id == scheduled.id
    sent = make_edition(status="sent")
    db.session.commit()
    b = submitted["b"]
    page = editor_client.post(f"/review/story/{b.id}/approve",
                              data={"version": 1, "edition": str(sent.id)},
                              follow_redirects=True).get_data(as_text=True)
    assert "That edition is no longer open" in page
    db.session.expire_all()
    assert b.status == S.SUBMITTED


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_decisions_need_the_csrf_token(editor_client, submitted):
    a = submitted["a"]
    response = editor_client.post(f"/review/story/{a.id}/approve", data={"version": 1})
    assert response.status_code == 400


def _fill_queue(make_user, make_team, make_story, make_quote, n: int) -> None:
    team = make_team()
    colleague = make_user()
    for i in range(n):
        author = make_user(team=team)
        if i % 2:
            make_quote(author, status=S.SUBMITTED)
        else:
            make_story(author, status=S.SUBMITTED, tags=["kindness", f"t{i % 3}"],
                       colleagues=[colleague], names=["A Friend"])


@pytest.mark.parametrize("path", ["/review", "/review?team=1"])
def test_queue_issues_a_constant_number_of_queries(
    app, db, login_as, make_user, make_team, make_story, make_quote, path
):
    editor = make_user(Role.EDITOR)
    _fill_queue(make_user, make_team, make_story, make_quote, 5)
    db.session.commit()
    client = login_as(editor)
    client.get(path)  # warm up (first request compiles templates)
    db.session.commit()  # both measurements start from a fresh session state
    with count_queries() as small:
        assert client.get(path).status_code == 200
    _fill_queue(make_user, make_team, make_story, make_quote, 195)
    db.session.commit()
    with count_queries() as large:
        page = client.get(path)
    assert page.status_code == 200
    assert large.count == small.count, (small.statements, large.statements)


def test_edition_choices_exist_for_approval(editor_client, submitted, db):
    page = editor_client.get(f"/review/story/{submitted['a'].id}").get_data(as_text=True)
    assert "The upcoming edition" in page
    assert db.session.scalar(db.select(db.func.count()).select_from(Edition)) == 0
