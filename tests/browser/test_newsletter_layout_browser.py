"""The email in Chromium at 600 px (a desktop client's reading pane) and 390 px (a phone): a
6-story edition shows its contents list and six teaser cards, a 2-story one its full stories;
nothing scrolls sideways, every picture loads inside the page, body text is at least 14 px."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import EditionStatus
from tests.browser.conftest import sign_in
from tests.test_newsletter_layout import layout_edition
from tests.test_newsletter_layout import settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MEASURE = """(selector) => [...document.querySelectorAll(selector)].map(e => {
    const box = e.getBoundingClientRect();
    return {left: box.left, right: box.right, width: box.width, height: box.height,
            visible: box.width > 0 && box.height > 0 && getComputedStyle(e).visibility !== 'hidden',
            font: parseFloat(getComputedStyle(e).fontSize),
            loaded: e.tagName !== 'IMG' || (e.complete && e.naturalWidth > 0)};
})"""


def _check(page, width: int, *, teasers: bool) -> None:
    page.wait_for_function(
        "() => [...document.images].every(i => i.complete)"
    )
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the email scrolls sideways at {width} px ({scroll} px)"
    images = page.evaluate(MEASURE, "img")
    assert images, "no pictures"
    for image in images:
        assert image["loaded"], image
        assert image["left"] >= 0 and image["right"] <= width + 0.5, image
    if teasers:
        cards = page.evaluate(MEASURE, ".teaser-table")
        assert len(cards) == 6 and all(c["visible"] and c["right"] <= width + 0.5 for c in cards)
        assert len(page.evaluate(MEASURE, ".contents-list li")) == 6
        texts = page.evaluate(MEASURE, ".teaser-text")
        assert len(texts) == 6 and min(t["font"] for t in texts) >= 14
        thumbs = page.evaluate(MEASURE, ".teaser-thumb")
        assert len(thumbs) == 6
        main = page.evaluate(MEASURE, ".teaser-main")
        assert min(m["width"] for m in main) >= 200, main  # the text column is never squeezed
        buttons = page.evaluate(MEASURE, ".teaser .button")
        assert len(buttons) == 6 and all(b["visible"] and b["right"] <= width for b in buttons)
        assert page.locator(".story-body").count() == 0
    else:
        bodies = page.evaluate(MEASURE, ".story-body, .story-body p")
        assert bodies and min(b["font"] for b in bodies) >= 14
        assert page.locator(".teaser-table").count() == 0
        covers = page.evaluate(MEASURE, "img.cover")
        assert len(covers) == 2 and all(c["width"] > width / 2 for c in covers)
    greeting = page.evaluate(MEASURE, ".intro, .greeting, .quote-text p")
    assert min(g["font"] for g in greeting) >= 14
    applause = page.evaluate(MEASURE, "a.applause")
    assert len(applause) == (6 if teasers else 2)
    assert all(a["visible"] and a["right"] <= width for a in applause)


@pytest.mark.parametrize("width", [600, 390])
def test_email_layouts_in_chromium(app, open_page, live_server, make_user, width):
    from app.models import Role

    app.config["BASE_URL"] = live_server  # pictures load from the running site
    settings(track_opens=False)  # no open image: this page is not a delivery
    editor = make_user(Role.EDITOR)
    long_edition = layout_edition(6, covers=True)
    short_edition = layout_edition(2, covers=True, status=EditionStatus.DRAFT)
    db.session.commit()
    page = open_page(width, 900)
    # The framed email is a bare document: Chromium asks for /favicon.ico, which the site has not.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    sign_in(page, editor)
    for edition, teasers in ((long_edition, True), (short_edition, False)):
        page.goto(f"/editions/upcoming/{edition.id}/preview/email")
        _check(page, width, teasers=teasers)
