"""Findings from walking the employee journey: the item's history says only what happened (no
"Edited by the author" for a submit that changed nothing), "My submissions" is in the main
navigation and lets a draft be submitted from its card, and a draft's page puts its status and
actions before the preview (a phone shows them first)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent
from app.models import Quote
from app.models import Story
from app.models import SubmissionStatus
from tests.test_submissions import Page
from tests.test_submissions import latest
from tests.test_submissions import quote_form
from tests.test_submissions import story_form

S = SubmissionStatus
PLURAL = {"story": "stories", "quote": "quotes"}


def audit_actions(item: Story | Quote) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent.action)
            .where(AuditEvent.object_type == item.kind, AuditEvent.object_id == item.id)
            .order_by(AuditEvent.id)
        )
    )


def save_draft(client, kind: str) -> Story | Quote:
    form = story_form() if kind == "story" else quote_form()
    response = client.post(f"/{PLURAL[kind]}/new", data=form)
    assert response.status_code == 302
    return latest(Story if kind == "story" else Quote)


def main_nav(html: str) -> str:
    """The top bar's main navigation (not the account menu)."""
    start = html.index('<nav class="site-nav" aria-label="Main">')
    return html[start : html.index("</nav>", start)]


# -- 1. the history says only what happened ------------------------------------------------------


@pytest.mark.parametrize("kind", ["story", "quote"])
def test_submitting_a_draft_from_its_page_is_not_an_edit(employee_client, editor_client, kind):
    item = save_draft(employee_client, kind)
    response = employee_client.post(f"/{PLURAL[kind]}/{item.id}/submit",
                                    data={"version": item.version})
    assert response.status_code == 302
    db.session.refresh(item)
    assert item.status == S.SUBMITTED
    assert audit_actions(item) == [f"{kind}.create", f"{kind}.submit"]

    history = Page(editor_client.get(f"/review/{kind}/{item.id}").get_data(as_text=True)).text
    assert "Submitted for review" in history
    assert "Edited by the author" not in history


def test_saving_or_submitting_the_form_unchanged_is_not_an_edit(employee_client):
    story = save_draft(employee_client, "story")
    url = f"/stories/{story.id}/edit"
    employee_client.post(url, data=story_form(version=str(story.version)))
    db.session.refresh(story)
    employee_client.post(url, data=story_form(action="submit", version=str(story.version)))
    db.session.refresh(story)
    assert story.status == S.SUBMITTED
    assert audit_actions(story) == ["story.create", "story.submit"]


def test_a_real_change_is_still_an_edit(employee_client):
    story = save_draft(employee_client, "story")
    employee_client.post(f"/stories/{story.id}/edit",
                         data=story_form(title="A better title", version=str(story.version)))
    db.session.refresh(story)
    assert story.title == "A better title"
    assert audit_actions(story) == ["story.create", "story.edit"]


# -- 2. My submissions in the main navigation ----------------------------------------------------


def test_my_submissions_is_in_the_main_navigation(employee_client):
    nav = main_nav(employee_client.get("/").get_data(as_text=True))
    assert 'href="/my/submissions"' in nav
    # After "Share", which the flash after saving a draft points back from.
    assert nav.index('href="/stories/new"') < nav.index('href="/my/submissions"')
    page = employee_client.get("/my/submissions").get_data(as_text=True)
    assert 'href="/my/submissions" aria-current="page"' in main_nav(page)


def test_a_curators_full_main_navigation_keeps_it_in_the_account_menu(editor_client):
    """Review, Upcoming and Insights fill an editor's top bar; one more would not fit."""
    html = editor_client.get("/").get_data(as_text=True)
    assert 'href="/my/submissions"' not in main_nav(html)
    assert 'href="/my/submissions"' in html  # the account menu
    response = editor_client.post("/stories/new", data=story_form())
    assert response.status_code == 302
    page = editor_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "from “My submissions” in your account menu." in page


# -- 3. the draft's page: status and actions before the preview ----------------------------------


@pytest.mark.parametrize("kind", ["story", "quote"])
def test_the_status_panel_comes_before_the_preview(employee_client, kind):
    item = save_draft(employee_client, kind)
    html = employee_client.get(f"/my/{PLURAL[kind]}/{item.id}").get_data(as_text=True)
    submit = html.index(f'action="/{PLURAL[kind]}/{item.id}/submit"')
    assert submit < html.index("How it will look")
    assert html.index('class="detail-layout__side"') < html.index('class="detail-layout__main"')


# -- 4. Submit on a card of My submissions -------------------------------------------------------


def card_forms(page: Page) -> list[str]:
    return [e.attrs["action"] for e in page.elements
            if e.tag == "form" and (e.attrs.get("action") or "").endswith("/submit")]


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_a_draft_is_submitted_from_its_card(employee_client, employee, make_story, make_quote):
    draft = make_story(employee, title="Ready to go")
    returned = make_story(employee, title="Needs her words", status=S.CHANGES_REQUESTED,
                          editor_note="Add the customer's words")
    make_story(employee, title="Already with the editors", status=S.SUBMITTED)
    quote = make_quote(employee)
    db.session.commit()

    page = Page(employee_client.get("/my/submissions").get_data(as_text=True))
    assert sorted(card_forms(page)) == sorted([f"/stories/{draft.id}/submit",
                                               f"/stories/{returned.id}/submit",
                                               f"/quotes/{quote.id}/submit"])
    assert "Resubmit story for review" in page.text  # the changes-requested card
    assert "Submit story for review" in page.text and "Submit quote for review" in page.text

    # The card's form, as a browser sends it (token, version), returns to the list.
    start = next(i for i, e in enumerate(page.elements)
                 if e.attrs.get("action") == f"/stories/{draft.id}/submit")
    fields = {}
    for element in page.elements[start + 1:]:
        if element.tag == "button":
            break
        if element.tag == "input":
            fields[element.attrs["name"]] = element.attrs.get("value") or ""
    assert fields["version"] == str(draft.version) and fields["csrf_token"]
    response = employee_client.post(f"/stories/{draft.id}/submit", data=fields)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/my/submissions")
    db.session.refresh(draft)
    assert draft.status == S.SUBMITTED

    page = Page(employee_client.get("/my/submissions").get_data(as_text=True))
    assert "Thank you! Your story is with the editors now." in page.text
    assert f"/stories/{draft.id}/submit" not in card_forms(page)


def test_a_card_submit_that_breaks_a_rule_shows_the_items_page(employee_client, employee,
                                                                make_story):
    story = make_story(employee, title="Hi", body="Too short.")
    db.session.commit()
    response = employee_client.post(f"/stories/{story.id}/submit",
                                    data={"version": story.version, "back": "mine"})
    assert response.status_code == 200
    assert "Your story can’t be submitted yet" in Page(response.get_data(as_text=True)).text
    db.session.refresh(story)
    assert story.status == S.DRAFT


# -- 5. the review page: the decision right after the preview ------------------------------------


def test_the_decision_comes_between_the_preview_and_the_history(editor_client, make_user,
                                                                make_story):
    story = make_story(make_user(), status=S.SUBMITTED, title="The umbrella in the rain")
    db.session.commit()
    html = editor_client.get(f"/review/story/{story.id}").get_data(as_text=True)
    preview = html.index('id="preview-title"')
    decision = html.index('aria-label="Decision"')
    approve = html.index(f'action="/review/story/{story.id}/approve"')
    history = html.index('id="history-title"')
    assert preview < decision < approve < history
