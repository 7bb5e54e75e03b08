"""In a real browser: an editor approves from the queue (one from its page, the rest in bulk),
arranges the upcoming edition by drag and drop and with the keyboard, previews it, sends it now
and watches its progress reach "sent"."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from app.editions.queries import ordered_items
from app.extensions import db
from app.models import Edition
from app.models import EditionStatus
from app.models import Role
from app.models import SubmissionStatus
from app.newsletter import sending
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import _violations
from tests.browser.test_accessibility import axe_page  # noqa: F401 (fixture)
from tests.browser.test_accessibility import axe_source  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser
S = SubmissionStatus


def _titles(page) -> list[str]:
    return page.locator("[data-edition-items] .edition-item__title").all_inner_texts()


def _saved_order() -> list[str]:
    db.session.rollback()  # end this thread's read snapshot: the server committed since
    edition = db.session.scalar(db.select(Edition).where(Edition.status == EditionStatus.DRAFT))
    return [e.content.title for e in ordered_items(edition)]


def test_approve_reorder_and_preview(page, make_user, make_story):
    from playwright.sync_api import expect

    editor = make_user(Role.EDITOR, display_name="Dana Whitfield", email="dana@example.com")
    noah = make_user(display_name="Noah Levi")
    now = datetime.now(UTC)
    for age, title in ((4, "Alpha: the late-night call"), (3, "Bravo: cake at the till"),
                       (2, "Charlie: the umbrella")):
        make_story(status=S.SUBMITTED, title=title, colleagues=[noah],
                   submitted_at=now - timedelta(days=age))
    db.session.commit()
    page.on("dialog", lambda dialog: dialog.accept())  # the bulk form's confirmation

    sign_in(page, editor, next_path="/review")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Review 3 waiting")).to_be_visible()

    # Approve the oldest from its review page.
    page.get_by_role("link", name="Review Alpha: the late-night call").click()
    expect(page.get_by_role("heading", name="As it will appear in the newsletter")).to_be_visible()
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="lined up for edition #1")).to_be_visible()

    # The rest in bulk: "select all" exists only with JavaScript.
    page.get_by_label("Select all on this page").check()
    expect(page.get_by_role("button", name="Approve selected (2)")).to_be_visible()
    page.get_by_role("button", name="Approve selected (2)").click()
    expect(page.get_by_text("Approved 2 of 2 selected items")).to_be_visible()
    expect(page.get_by_role("heading", name="All caught up")).to_be_visible()

    # The upcoming edition, in approval order.
    nav.get_by_role("link", name="Upcoming", exact=True).click()
    expect(page.locator("[data-edition-items] .edition-item")).to_have_count(3)
    assert _titles(page) == ["Alpha: the late-night call", "Bravo: cake at the till",
                             "Charlie: the umbrella"]

    # Drag Charlie above Alpha; the order is saved without a reload.
    items = page.locator("[data-edition-items] .edition-item")
    items.nth(2).drag_to(items.nth(0), target_position={"x": 40, "y": 4})
    expect(page.locator("[data-edition-items] .edition-item__title").first).to_have_text(
        "Charlie: the umbrella")
    # Announced once the server has saved it.
    expect(page.locator("#fgf-live")).to_contain_text("Charlie: the umbrella is now number 1")
    assert _saved_order() == ["Charlie: the umbrella", "Alpha: the late-night call",
                              "Bravo: cake at the till"]

    # Keyboard: "Down" on the first item moves it, and focus stays on that button.
    first_down = page.locator("#" + page.locator("[data-edition-items] .edition-item").first
                              .get_attribute("id") + " [data-move-button='down']")
    first_down.focus()
    page.keyboard.press("Enter")
    expect(page.locator("[data-edition-items] .edition-item__title").nth(1)).to_have_text(
        "Charlie: the umbrella")
    expect(first_down).to_be_focused()
    expect(page.locator("#fgf-live")).to_contain_text("Charlie: the umbrella is now number 2")
    assert _saved_order() == ["Alpha: the late-night call", "Charlie: the umbrella",
                              "Bravo: cake at the till"]

    # A reload shows the saved order (and positions).
    page.reload()
    assert _titles(page) == ["Alpha: the late-night call", "Charlie: the umbrella",
                             "Bravo: cake at the till"]
    expect(page.locator("[data-position]").nth(1)).to_have_text("2")

    # Preview: the email in its sandboxed frame, the plain text and the web page.
    page.get_by_role("link", name="Preview", exact=True).click()
    expect(page.get_by_role("heading", name="Preview of edition #1")).to_be_visible()
    frame = page.frame_locator("iframe.preview-frame")
    expect(frame.get_by_text("Charlie: the umbrella").first).to_be_visible()
    expect(page.locator(".preview-text")).to_contain_text("Alpha: the late-night call")
    expect(page.locator(".preview-web")).to_contain_text("Bravo: cake at the till")

    # Send now: the confirmation, then the edition's own page follows its progress.
    page.get_by_role("link", name="Edition #1").click()
    page.get_by_role("link", name="Send now…").first.click()
    expect(page.get_by_role("heading", name="Send edition #1 now?")).to_be_visible()
    page.get_by_role("button", name="Send to everyone now").click()
    expect(page).to_have_url(re.compile(r"/editions/1$"))
    status = page.locator("#nl-status-title")
    expect(status).to_have_text("Starting to send")

    # The upcoming page (a second tab) shows it on its way and arranges edition #2.
    upcoming = page.context.new_page()
    upcoming.goto("/editions/upcoming")
    card = upcoming.locator("[data-sending]")
    expect(card.locator("[data-sending-line]")).to_have_text("Sending — starts within a minute")
    expect(upcoming.get_by_role("link", name="Send now…")).to_have_count(1)  # #2's, not #1's
    expect(upcoming.get_by_role("heading", name="Edition #1", exact=True)).to_be_visible()
    expect(card.get_by_role("link", name="Follow the progress of edition #1")).to_have_attribute(
        "href", "/editions/1")

    # The scheduler sends it; both pages, polling, reach "sent" without a reload.
    db.session.rollback()
    edition_id = db.session.scalar(db.select(Edition.id).where(Edition.number == 1))
    sending.run_edition(edition_id)
    expect(status).to_have_text("Sent", timeout=15_000)
    expect(page.locator("[data-progress-note]")).to_contain_text("All done: 5 sent, 0 failed.")
    expect(page.locator("[data-progress-badge] .badge")).to_have_text("Sent")
    expect(page.locator("#fgf-live")).to_contain_text("Sending finished")
    expect(page.locator("[data-progress-preview]")).to_be_hidden()
    expect(card.locator("[data-sending-line]")).to_have_text("Sent — 5 of 5 delivered",
                                                            timeout=15_000)
    card.get_by_role("link", name="See the sent edition").click()
    expect(upcoming.get_by_role("heading", name="Delivery")).to_be_visible()
    upcoming.close()


@pytest.mark.parametrize("size", [(390, 844), (1280, 900)], ids=["phone", "desktop"])
def test_the_editors_pages_stay_accessible(
    axe_page, make_user, make_story, make_edition, size  # noqa: F811 (the imported fixture)
):
    """axe-core and no sideways scrolling on what this journey added: the review page with its
    cover picture, the upcoming page with an edition on its way, its progress page, and a
    skipped week in the archive and on its own page."""
    import io

    from PIL import Image

    from app.editions import services
    from app.submissions import uploads

    picture = io.BytesIO()
    Image.new("RGB", (1200, 600), "gold").save(picture, "PNG")
    picture.seek(0)
    editor = make_user(Role.EDITOR, display_name="Dana Whitfield", email="dana@example.com")
    story = make_story(status=S.SUBMITTED, title="The umbrella in the rain",
                       cover_image=uploads.store_cover_image(picture),
                       cover_image_alt="A red umbrella")
    make_edition(status=EditionStatus.SENT, number=1, subject="One")
    make_edition(status=EditionStatus.SKIPPED, number=2, iso_week="2026-W50")
    make_story(status=S.APPROVED, title="On its way")
    going = services.ensure_upcoming()
    going.status, going.scheduled_at = EditionStatus.SCHEDULED, datetime.now(UTC)
    db.session.commit()

    page = axe_page(*size)
    sign_in(page, editor)
    problems = {}
    for path in (f"/review/story/{story.id}", "/editions/upcoming", f"/editions/{going.number}",
                 "/editions", "/editions/2"):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        problems[path] = _violations(page)
        wide = page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth")
        if wide:
            problems[path].append("scrolls sideways")
    assert {k: v for k, v in problems.items() if v} == {}
