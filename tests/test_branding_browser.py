"""In a real browser: the branding page's colour picker and live preview follow what is typed
(the contrast measured as the server does, under the strict CSP), a saved colour and logo theme
the whole site in light and dark mode, and the page passes axe and fits a 390 px phone."""

from __future__ import annotations

import pytest

from app.branding import services
from app.extensions import db
from app.models import Role
from app.settings import set_settings
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import _violations
from tests.browser.test_accessibility import axe_source  # noqa: F401 - a fixture
from tests.test_submissions_uploads import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.app_config(WTF_CSRF_ENABLED=True)]


def _page(browser, live_server, axe: str, **options):
    context = browser.new_context(base_url=live_server, **options)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(script=axe)
    problems: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return context, page, problems


def test_live_preview_and_save_on_a_phone(
    browser, live_server, make_user, axe_source,  # noqa: F811 - the fixture imported above
):
    from playwright.sync_api import expect

    admin = make_user(Role.ADMIN, display_name="Ada Admin", email="ada@example.com")
    db.session.commit()
    context, page, problems = _page(browser, live_server, axe_source,
                                    viewport={"width": 390, "height": 844})
    try:
        sign_in(page, admin, next_path="/admin/settings/branding")
        status = page.locator("[data-contrast-status]")
        expect(status).to_contain_text("5.84:1")  # the default accent, #b43c0a
        button = page.locator(".brand-preview__button")

        field = page.get_by_label("Accent colour")
        field.fill("#006ffb")  # 4.4999: just under
        expect(status).to_contain_text("4.49:1. Too light")
        assert button.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(0, 111, 251)"
        field.fill("#C30")
        expect(status).to_contain_text("Readable")
        assert page.locator(".brand-colour__picker").input_value() == "#cc3300"
        assert button.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(204, 51, 0)"

        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways at 390 px ({width} px)"
        assert _violations(page) == []

        field.fill("#1d4ed8")
        with page.expect_navigation():
            page.get_by_role("button", name="Save branding and layout").click()
        expect(page.get_by_text("Branding and layout saved.")).to_be_visible()
        primary = page.locator(".btn--primary").first
        assert primary.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(29, 78, 216)"
        assert _violations(page) == []
        assert problems == []
    finally:
        context.close()


def test_the_theme_and_logo_in_dark_mode(
    browser, live_server, make_user, axe_source,  # noqa: F811 - the fixture imported above
):
    reader = make_user(display_name="Erin Reader", email="erin@example.com")
    services.save_logo(image_bytes("PNG", size=(960, 240)), actor=None)
    set_settings({"brand_accent": "#6d28d9", "brand_footer": "Acme Ltd\nHappy customers"},
                 actor=None)
    db.session.commit()
    context, page, problems = _page(browser, live_server, axe_source, color_scheme="dark",
                                    viewport={"width": 1280, "height": 900})
    try:
        sign_in(page, reader, next_path="/account/")
        logo = page.locator(".site-header .brand__logo--custom")
        box = logo.bounding_box()
        assert round(box["height"]) == 36 and round(box["width"]) == 144  # 4:1, as uploaded
        assert logo.evaluate("e => e.naturalWidth") == 480  # the stored file, loaded
        footer = page.locator(".site-footer__note")
        assert footer.inner_text() == "Acme Ltd\nHappy customers"
        link = page.locator(".brand__accent")
        assert link.evaluate("e => getComputedStyle(e).color") != "rgb(255, 179, 107)"  # themed
        assert _violations(page) == []
        assert problems == []
    finally:
        context.close()

