"""The review page of one item through the Flask client: its newsletter preview shows the cover
picture as the email does, and the decisions come in the order an editor works through them
(Approve, Edit, Request changes, then Reject last)."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from app.editions import services as editions
from app.models import SubmissionStatus
from app.newsletter.compose import compile_edition
from app.submissions import uploads

S = SubmissionStatus


def _picture() -> str:
    """A real picture stored the way the story form stores one; returns its name."""
    data = io.BytesIO()
    Image.new("RGB", (64, 32), "gold").save(data, "PNG")
    data.seek(0)
    return uploads.store_cover_image(data)


def _img_tags(html: str) -> list[str]:
    return re.findall(r"<img\b[^>]*>", html)


def _attr(tag: str, name: str) -> str | None:
    found = re.search(rf'\s{name}="([^"]*)"', tag)
    return found.group(1) if found else None


@pytest.fixture
def pictured(db, make_user, make_story):
    cover = _picture()
    story = make_story(make_user(display_name="Priya Raman"), status=S.SUBMITTED,
                       title="The umbrella in the rain", cover_image=cover,
                       cover_image_alt="Amina holding a red umbrella")
    db.session.commit()
    return story, cover


def test_the_preview_shows_the_cover_picture_as_the_email_does(editor_client, pictured, db):
    story, cover = pictured
    page = editor_client.get(f"/review/story/{story.id}").get_data(as_text=True)
    preview = page[page.index("As it will appear in the newsletter"):page.index("History")]
    assert "(Cover picture:" not in preview
    [img] = _img_tags(preview)
    assert _attr(img, "src") == f"/uploads/{cover}"
    assert _attr(img, "alt") == "Amina holding a red umbrella"
    assert _attr(img, "width") == "536"

    # The signed-in editor's browser loads it, although the story is not published.
    picture = editor_client.get(_attr(img, "src"))
    assert picture.status_code == 200 and picture.mimetype == "image/png"
    picture.close()

    # The email shows the same picture, with the same description, at the same width.
    editions.add_approved_item(_approve(story, db), editions.ensure_upcoming())
    email = compile_edition(editions.ensure_upcoming()).html
    [emailed] = [t for t in _img_tags(email) if cover in (_attr(t, "src") or "")]
    assert _attr(emailed, "src").endswith(_attr(img, "src"))
    assert _attr(emailed, "alt") == _attr(img, "alt")
    assert _attr(emailed, "width") == _attr(img, "width")


def test_a_picture_without_a_description_gets_the_emails_fallback(
    editor_client, db, make_story
):
    story = make_story(status=S.SUBMITTED, title="Cake at the till", cover_image=_picture())
    db.session.commit()
    page = editor_client.get(f"/review/story/{story.id}").get_data(as_text=True)
    [img] = _img_tags(page[page.index("As it will appear"):page.index("History")])
    assert _attr(img, "alt") == "Picture for “Cake at the till”"


def _approve(story, db):
    story.status = S.APPROVED
    db.session.flush()
    return story


def _positions(html: str, *markers: str) -> list[int]:
    return [html.index(marker) for marker in markers]


def test_decisions_come_in_working_order_with_reject_last(editor_client, pictured):
    story, _ = pictured
    page = editor_client.get(f"/review/story/{story.id}").get_data(as_text=True)
    aside = page[page.index('aria-label="Decision"'):]
    approve, edit, changes, reject = _positions(
        aside,
        f'action="/review/story/{story.id}/approve"',
        f'href="/review/story/{story.id}/edit"',
        f'action="/review/story/{story.id}/request-changes"',
        f'action="/review/story/{story.id}/reject"',
    )
    assert approve < edit < changes < reject  # DOM order is the visual and the tab order
    assert "tabindex=\"1" not in page and 'style="order' not in page
    assert "Back to the queue" in aside[reject:]


def test_an_approved_item_offers_edit_right_after_its_placement(editor_client, pictured, db):
    story, _ = pictured
    editor_client.post(f"/review/story/{story.id}/approve", data={"version": story.version})
    page = editor_client.get(f"/review/story/{story.id}").get_data(as_text=True)
    aside = page[page.index('aria-label="Decision"'):]
    placed, edit, back = _positions(aside, "Arrange edition #1", "Edit the story",
                                    "Back to the queue")
    assert placed < edit < back
    assert "/reject" not in aside


def test_an_edition_already_on_its_way_is_not_offered_for_approval(
    editor_client, pictured, make_story, db
):
    """After "send now" the sender may take the edition any second: an approval goes to the
    next edition, never into one that may leave without it."""
    story, _ = pictured
    going = editions.ensure_upcoming()
    editions.add_approved_item(make_story(status=S.APPROVED), going)
    db.session.commit()
    assert editor_client.post(f"/editions/upcoming/{going.id}/send",
                              data={"version": going.version}).status_code == 302
    page = editor_client.get(f"/review/story/{story.id}").get_data(as_text=True)
    assert f'<option value="{going.id}"' not in page
    assert ">The upcoming edition</option>" in page  # the next one, opened on approval

    refused = editor_client.post(f"/review/story/{story.id}/approve",
                                 data={"version": story.version, "edition": str(going.id)},
                                 follow_redirects=True)
    assert f"Edition #{going.number} is already on its way" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert story.status == S.SUBMITTED


def test_an_item_in_an_edition_being_sent_points_to_the_progress(editor_client, pictured, db):
    """Not "waits in the approved pool", and no edit that would miss the frozen email."""
    from app.newsletter import sending

    story, _ = pictured
    editor_client.post(f"/review/story/{story.id}/approve", data={"version": story.version})
    edition = editions.ensure_upcoming()
    db.session.commit()
    editor_client.post(f"/editions/upcoming/{edition.id}/send", data={"version": edition.version})
    assert sending.claim_edition(edition.id)
    db.session.expire_all()
    page = editor_client.get(f"/review/story/{story.id}").get_data(as_text=True)
    aside = page[page.index('aria-label="Decision"'):]
    assert f"It goes out with edition #{edition.number}, which is on its way" in aside
    assert f'href="/editions/{edition.number}"' in aside
    assert "approved pool" not in aside and "Edit the story" not in aside
    refused = editor_client.get(f"/review/story/{story.id}/edit", follow_redirects=True)
    assert "it can no longer be edited" in refused.get_data(as_text=True)


def test_the_edit_service_refuses_an_item_in_an_edition_on_its_way(
    editor_client, editor, pictured, db
):
    """The rule lives in `review.services.edit_item`, so the CLI, the API and the page agree."""
    from dataclasses import replace

    from app.errors import Conflict
    from app.review import services as review
    from app.submissions.rules import story_input

    story, _ = pictured
    editor_client.post(f"/review/story/{story.id}/approve", data={"version": story.version})
    edition = editions.ensure_upcoming()
    db.session.commit()
    editor_client.post(f"/editions/upcoming/{edition.id}/send", data={"version": edition.version})
    db.session.expire_all()
    title = story.title
    with pytest.raises(Conflict, match="on its way"):
        review.edit_item(
            story, replace(story_input(story), title="Too late"), actor=editor,
            seen_version=story.version,
        )
    db.session.rollback()
    db.session.expire_all()
    assert story.title == title
