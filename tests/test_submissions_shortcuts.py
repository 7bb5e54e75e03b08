"""Shortcuts into the submission workflow: "Submit for review" on a draft's own page (the same
service and rules as the form's button) and the new-story form opened with a colleague
already credited (`/stories/new?colleague=<id>`, the "Recognize <name>" button)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent
from app.models import DomainEvent
from app.models import Recognition
from app.models import Revision
from app.models import Story
from app.models import SubmissionStatus
from tests.test_submissions import Page
from tests.test_submissions import latest
from tests.test_submissions import story_form

S = SubmissionStatus


def submit_form(page: Page) -> dict[str, str]:
    """The fields of the page's submit form (its action and hidden inputs)."""
    elements = page.elements
    start = next(i for i, e in enumerate(elements)
                 if e.tag == "form" and (e.attrs.get("action") or "").endswith("/submit"))
    fields: dict[str, str] = {"action": elements[start].attrs["action"]}
    for element in elements[start + 1:]:
        if element.tag == "form":
            break
        if element.tag == "input":
            fields[element.attrs["name"]] = element.attrs.get("value") or ""
        if element.tag == "button":
            break
    return fields


def detail(client, item) -> Page:
    response = client.get(f"/my/{'stories' if item.kind == 'story' else 'quotes'}/{item.id}")
    assert response.status_code == 200
    return Page(response.get_data(as_text=True))


# -- Submit on the draft's page ------------------------------------------------------------------


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
@pytest.mark.parametrize("kind", ["story", "quote"])
def test_a_draft_is_submitted_from_its_own_page(employee_client, employee, make_story,
                                                make_quote, kind):
    item = make_story(employee) if kind == "story" else make_quote(employee)
    db.session.commit()
    page = detail(employee_client, item)
    assert "Submit it when you’re ready" in page.text
    form = submit_form(page)
    plural = "stories" if kind == "story" else "quotes"
    assert form["action"] == f"/{plural}/{item.id}/submit"
    assert form["version"] == str(item.version) and form["csrf_token"]

    # The token is required (a cross-site POST cannot submit someone's draft).
    assert employee_client.post(form["action"], data={"version": form["version"]}).status_code \
        == 400
    db.session.refresh(item)
    assert item.status == S.DRAFT

    response = employee_client.post(form["action"], data=form, follow_redirects=True)
    assert response.status_code == 200
    assert f"Thank you! Your {kind} is with the editors now." in response.get_data(as_text=True)
    db.session.refresh(item)
    assert item.status == S.SUBMITTED and item.submitted_at is not None
    # Exactly what the form's "Submit" does: the event editors react to, the audit trail and
    # the revision editors compare against.
    assert db.session.scalar(
        sa.select(DomainEvent.name).order_by(DomainEvent.id.desc())
    ) == "submission.submitted"
    assert db.session.scalar(
        sa.select(AuditEvent.action).order_by(AuditEvent.id.desc())
    ) == f"{kind}.submit"
    assert latest(Revision).object_id == item.id
    # Submitted: no submit button any more, editing still possible.
    page = detail(employee_client, item)
    assert not any(e.tag == "form" and (e.attrs.get("action") or "").endswith("/submit")
                   for e in page.elements)
    assert any(e.attrs.get("href") == f"/{plural}/{item.id}/edit" for e in page.elements)


def test_changes_requested_can_be_resubmitted_from_the_page(employee_client, employee,
                                                            make_story):
    story = make_story(employee, status=S.CHANGES_REQUESTED, editor_note="Add her words")
    db.session.commit()
    page = detail(employee_client, story)
    assert "Resubmit for review" in page.text
    employee_client.post(f"/stories/{story.id}/submit", data={"version": story.version})
    db.session.refresh(story)
    assert story.status == S.SUBMITTED


def test_a_draft_that_breaks_a_rule_says_why_and_links_to_edit(employee_client, employee,
                                                                make_story):
    # Saved before today's rules, or by a script: a title and a body too short to submit.
    story = make_story(employee, title="Hi", body="Too short.")
    db.session.commit()
    response = employee_client.post(f"/stories/{story.id}/submit",
                                    data={"version": story.version})
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    assert "Your story can’t be submitted yet" in page.text
    assert "Give your story a title of at least 3 characters." in page.text
    assert "Tell us a little more: the story needs at least 20 characters." in page.text
    assert "Edit your story to fix these, then submit it." in page.text
    assert "Submit for review" not in page.text  # Edit is the way forward now
    assert any(e.tag == "a" and e.attrs.get("href") == f"/stories/{story.id}/edit"
               for e in page.elements)
    db.session.refresh(story)
    assert story.status == S.DRAFT and story.submitted_at is None


def test_a_stale_page_does_not_submit_a_newer_version(employee_client, employee, make_story):
    story = make_story(employee)
    db.session.commit()
    seen = story.version
    employee_client.post(f"/stories/{story.id}/edit",
                         data=story_form(title="Changed in another tab", version=str(seen)))
    response = employee_client.post(f"/stories/{story.id}/submit", data={"version": seen})
    assert response.status_code == 200
    assert "was changed somewhere else" in Page(response.get_data(as_text=True)).text
    db.session.refresh(story)
    assert story.status == S.DRAFT
    for garbled in ("", "abc", "99999999999999999999"):
        response = employee_client.post(f"/stories/{story.id}/submit", data={"version": garbled})
        assert response.status_code == 200
    db.session.refresh(story)
    assert story.status == S.DRAFT


@pytest.mark.parametrize("status", [S.SUBMITTED, S.APPROVED, S.PUBLISHED, S.WITHDRAWN])
def test_only_drafts_and_changes_requested_can_be_submitted(employee_client, employee,
                                                            make_quote, status):
    quote = make_quote(employee, status=status)
    db.session.commit()
    before = quote.version
    response = employee_client.post(f"/quotes/{quote.id}/submit", data={"version": before})
    assert response.status_code == 302
    db.session.refresh(quote)
    assert (quote.status, quote.version) == (status, before)


def test_nobody_else_can_submit_a_draft(login_as, make_user, make_story):
    author, someone = make_user(), make_user()
    story = make_story(author)
    db.session.commit()
    other = login_as(someone)
    assert other.post(f"/stories/{story.id}/submit", data={"version": 1}).status_code == 403
    assert other.post("/stories/999999/submit", data={"version": 1}).status_code == 404
    assert other.get(f"/stories/{story.id}/submit").status_code == 405
    db.session.refresh(story)
    assert story.status == S.DRAFT


# -- /stories/new?colleague=<id> -----------------------------------------------------------------


def picker_selection(response) -> tuple[str, list[dict]]:
    page = Page(response.get_data(as_text=True))
    picker = next(e for e in page.elements if "data-colleague-picker" in e.attrs)
    return page.value("colleagues"), json.loads(picker.attrs["data-selected"])


def test_the_new_story_form_credits_the_colleague_in_the_link(employee_client, make_user):
    noah = make_user(display_name="Noah Levi", email="noah@example.com")
    db.session.commit()
    response = employee_client.get(f"/stories/new?colleague={noah.id}")
    assert response.status_code == 200
    emails, chips = picker_selection(response)
    assert emails == "noah@example.com"  # what the form (and the no-JS page) sends
    assert chips == [{"id": noah.id, "name": "Noah Levi", "email": "noah@example.com"}]
    # Sent as it is, the story credits Noah's account.
    employee_client.post("/stories/new", data=story_form(colleagues=emails))
    story = latest(Story)
    assert [r.user_id for r in story.recognitions] == [noah.id]


@pytest.mark.parametrize("value", ["abc", "99999999999999999999", "2147483648", "-1", "0", "",
                                   "1.5", "１", "999999"])
def test_a_colleague_link_with_a_bad_id_is_ignored(employee_client, value):
    response = employee_client.get("/stories/new", query_string={"colleague": value})
    assert response.status_code == 200
    assert picker_selection(response) == ("", [])


def test_a_deactivated_colleague_is_not_credited(employee_client, make_user):
    gone = make_user(display_name="Nora Gone", active=False)
    db.session.commit()
    response = employee_client.get(f"/stories/new?colleague={gone.id}")
    assert response.status_code == 200
    assert picker_selection(response) == ("", [])
    assert "Nora Gone" not in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Recognition)) == 0
