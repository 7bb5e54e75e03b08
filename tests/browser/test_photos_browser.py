"""In a real browser: choosing a photo on the profile page previews it (the strict CSP allows
it), a file over the limit is named before any upload, the upload replaces the initials, and the
page passes axe and fits a 390 px phone."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import User
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import _violations
from tests.browser.test_accessibility import axe_source  # noqa: F401 - a fixture
from tests.test_submissions_uploads import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.app_config(WTF_CSRF_ENABLED=True)]


def test_preview_upload_and_remove_on_a_phone(
    browser,
    live_server,
    make_user,
    axe_source,  # noqa: F811 - the fixture imported above
):
    from playwright.sync_api import expect

    person = make_user(display_name="Priya Raman", email="priya@example.com")
    db.session.commit()
    context = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(script=axe_source)
    problems: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    try:
        sign_in(page, person, next_path="/account/")
        photo = page.locator("#photo")
        expect(photo.get_by_text("No photo yet")).to_be_visible()

        field = page.get_by_label("Choose a photo")
        field.set_input_files(
            {"name": "big.png", "mimeType": "image/png", "buffer": b"\x00" * (6 * 1024 * 1024)}
        )
        expect(photo.get_by_role("status")).to_contain_text("the limit is 5 MB")
        expect(page.locator("[data-photo-preview]")).to_be_hidden()

        field.set_input_files(
            {"name": "me.jpg", "mimeType": "image/jpeg", "buffer": image_bytes("JPEG")}
        )
        expect(page.locator("[data-photo-preview]")).to_be_visible()
        expect(photo.get_by_role("status")).to_contain_text("Preview shown")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways at 390 px ({width} px)"
        assert _violations(page) == []

        with page.expect_navigation():
            photo.get_by_role("button", name="Upload photo").click()
        db.session.rollback()
        key = db.session.get(User, person.id).photo_key
        assert key
        current = photo.get_by_role("img", name="Priya Raman")
        expect(current).to_have_attribute("src", f"/photos/{key}-96.jpg")
        assert (
            page.evaluate("document.querySelector('#photo img.avatar').naturalWidth") == 96
        )  # the photo itself was served to the signed-in browser
        assert _violations(page) == []

        page.once("dialog", lambda dialog: dialog.accept())
        with page.expect_navigation():
            photo.get_by_role("button", name="Remove photo").click()
        expect(photo.get_by_text("No photo yet")).to_be_visible()
        db.session.rollback()
        assert db.session.get(User, person.id).photo_key is None
    finally:
        context.close()
    assert problems == []
