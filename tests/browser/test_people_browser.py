"""In a real browser at phone width: the names-without-accounts page and a person's edit page
pass axe, fit the screen, suggest accounts as you type, and a merge asks first, then says what
it did."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Recognition
from app.models import Role
from tests import factories
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import _violations
from tests.browser.test_accessibility import axe_source  # noqa: F401 - a fixture

pytestmark = [pytest.mark.browser, pytest.mark.app_config(WTF_CSRF_ENABLED=True)]
PHONE = 390


def _fits(page) -> None:
    page.wait_for_load_state("load")  # after a click: measured with the stylesheets in
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE, f"the page is {width}px wide at {PHONE}px"


def test_editor_merges_a_name_on_a_phone(open_page, axe_source):  # noqa: F811
    from playwright.sync_api import expect

    editor = factories.make_user(Role.EDITOR, display_name="Dana Editor", email="dana@example.com")
    noah = factories.make_user(display_name="Noah Levi", email="noah@example.com")
    factories.make_user(display_name="Noam Shapiro", email="noam@example.com")
    factories.make_story(names=["Noah (no account)"])
    factories.make_story(names=["Noah (no account)"])
    db.session.commit()

    page = open_page(PHONE, 800, axe=axe_source)
    sign_in(page, editor, next_path="/admin/people/names")
    expect(page.get_by_role("heading", name="Names without accounts")).to_be_visible()
    _fits(page)
    assert _violations(page) == []

    account = page.get_by_label("Account for “Noah (no account)”")
    expect(account).to_have_value("noah@example.com")  # the best suggestion, prefilled
    account.fill("")
    account.press_sequentially("noa", delay=30)
    options = page.locator("#merge-account-1-options option")
    expect(options).to_have_count(2)  # Noah and Noam, from the colleague search

    account.fill("noah@example.com")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Merge").click()
    expect(page.get_by_text("“Noah (no account)” is now Noah Levi in 2 stories.")).to_be_visible()
    db.session.rollback()
    assert db.session.scalar(
        db.select(db.func.count()).select_from(Recognition).where(Recognition.user_id == noah.id)
    ) == 2


def test_admin_edits_a_person_on_a_phone(open_page, axe_source):  # noqa: F811
    from playwright.sync_api import expect

    admin = factories.make_user(Role.ADMIN, display_name="Ada Admin", email="ada@example.com")
    noah = factories.make_user(display_name="Noah Levi", email="noah@example.com")
    factories.make_user(display_name="Maya Chen", email="maya@example.com")
    db.session.commit()

    page = open_page(PHONE, 800, axe=axe_source)
    sign_in(page, admin, next_path=f"/admin/users/{noah.id}")
    _fits(page)
    assert _violations(page) == []
    page.get_by_role("link", name="Edit name, email, team and manager").click()
    _fits(page)
    assert _violations(page) == []
    manager = page.get_by_label("Manager")
    manager.press_sequentially("may", delay=30)
    expect(page.locator("#manager-options option")).to_have_count(1)
    manager.fill("maya@example.com")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    expect(page.get_by_role("link", name="Maya Chen")).to_be_visible()
