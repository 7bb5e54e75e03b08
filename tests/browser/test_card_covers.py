"""In a real browser at phone width (390 px): a story's cover picture on its card fills the
card's width in a fixed 16:9 frame, reserves its space before it loads (no layout shift) and
never makes the page scroll sideways; cards without a picture are unchanged."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.extensions import db
from app.models import SubmissionStatus
from app.submissions import uploads
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def stored_picture(size=(1200, 1600)) -> str:
    """A real, stored cover (portrait, to show the crop), as the form would store it."""
    out = io.BytesIO()
    Image.new("RGB", size, "teal").save(out, "JPEG")
    out.seek(0)
    return uploads.store_cover_image(out)


def test_cover_cards_at_390_px(browser, live_server, make_user, make_story):
    reader = make_user()
    make_story(status=SubmissionStatus.PUBLISHED, title="With a picture",
               cover_image=stored_picture(), cover_image_alt="The team at the airport desk")
    make_story(status=SubmissionStatus.PUBLISHED, title="Without a picture")
    db.session.commit()

    context = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        sign_in(page, reader)
        page.goto("/")
        cover = page.get_by_role("img", name="The team at the airport desk")
        cover.scroll_into_view_if_needed()  # lazy: fetched once near the viewport
        page.wait_for_function(
            "() => { const i = document.querySelector('.story-card__cover');"
            " return i && i.complete && i.naturalWidth > 0; }"
        )
        box = cover.bounding_box()
        card = page.locator(".story-card", has=cover).bounding_box()
        assert box is not None and card is not None
        assert abs(box["width"] - (card["width"] - 2)) <= 1  # edge to edge, inside the border
        assert abs(box["height"] - box["width"] * 9 / 16) <= 1  # the frame, not the upload
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.locator(".story-card", has_text="Without a picture").locator("img").count() \
            == 0
        assert errors == []
    finally:
        context.close()
