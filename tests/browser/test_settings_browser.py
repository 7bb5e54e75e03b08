"""In a real browser: time zones are searched and picked by keyboard (admin settings, profile),
a profile that never chose one gets this device's zone preselected, the fields still work
without JavaScript, and the send time reads as 24-hour even in a 12-hour (en-US) locale."""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.models import Role
from app.models import User
from app.settings import get_settings
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import _violations
from tests.browser.test_accessibility import axe_source  # noqa: F401 - a fixture

pytestmark = [pytest.mark.browser, pytest.mark.app_config(WTF_CSRF_ENABLED=True)]


def _reload(user: User) -> User:
    db.session.rollback()  # end this thread's read transaction: see what the server committed
    return db.session.get(User, user.id)


def test_admin_finds_and_picks_a_zone_by_keyboard(open_page, make_user):
    from playwright.sync_api import expect

    admin = make_user(Role.ADMIN, display_name="Ada Admin", email="ada@example.com")
    db.session.commit()
    page = open_page(locale="en-US", timezone_id="America/Chicago")
    sign_in(page, admin, next_path="/admin/settings")

    zone = page.get_by_role("combobox", name="Organization time zone")
    expect(zone).to_have_value("UTC")  # the organization's setting: never replaced by the browser's
    zone.fill("")
    zone.press_sequentially("new york", delay=20)  # a space for the underscore, any case
    listbox = page.get_by_role("listbox", name="Matching time zones")
    expect(listbox.get_by_role("option", name="America/New_York")).to_be_visible()
    expect(listbox.get_by_role("option").first).to_have_text("America/New_York")
    zone.press("ArrowDown")
    expect(zone).to_have_attribute("aria-activedescendant", re.compile("option-0"))
    zone.press("Enter")  # picks; does not submit the form
    expect(zone).to_have_value("America/New_York")
    expect(listbox).to_be_hidden()
    assert "/admin/settings" in page.url and get_settings("timezone")["timezone"] == "UTC"

    zone.fill("kolk")  # part of a place name is enough
    expect(listbox.get_by_role("option", name="Asia/Kolkata")).to_be_visible()
    zone.press("Escape")
    expect(listbox).to_be_hidden()
    zone.fill("Atlantis")
    expect(listbox.get_by_role("option")).to_have_text(["No time zone matches “Atlantis”."])
    zone.fill("America/New_York")

    with page.expect_navigation():
        page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#content").get_by_text("Settings saved.")).to_be_visible()
    db.session.rollback()
    assert get_settings("timezone")["timezone"] == "America/New_York"


def test_send_time_reads_as_24_hour_in_an_en_us_browser(open_page, make_user):
    from playwright.sync_api import expect

    admin = make_user(Role.ADMIN, display_name="Ada Admin", email="ada@example.com")
    db.session.commit()
    page = open_page(locale="en-US")
    sign_in(page, admin, next_path="/admin/settings")
    assert page.evaluate("navigator.language") == "en-US"

    send_time = page.get_by_label("Send time")
    # Shown as typed text, not a locale-formatted time control ("09:00 AM" in en-US).
    assert send_time.evaluate("el => el.type") == "text"
    expect(send_time).to_have_value("09:00")
    expect(page.get_by_text("24-hour time (HH:MM), e.g. 09:00 or 17:30.")).to_be_visible()
    assert page.get_by_label("Nudge time").evaluate("el => el.type") == "text"

    send_time.fill("17:30")
    with page.expect_navigation():
        page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#content").get_by_text("Settings saved.")).to_be_visible()
    expect(page.get_by_label("Send time")).to_have_value("17:30")
    expect(page.locator("time").first).to_contain_text("17:30")

    page.get_by_label("Send time").fill("5:30 PM")
    with page.expect_navigation():
        page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".field__error")).to_contain_text("Use a 24-hour time like 09:00.")
    expect(page.get_by_label("Send time")).to_have_value("5:30 PM")
    db.session.rollback()
    assert get_settings("send_time")["send_time"] == "17:30"


def test_a_new_profile_gets_this_devices_zone(open_page, make_user):
    from playwright.sync_api import expect

    erin = make_user(display_name="Erin Employee", email="erin@example.com")
    db.session.commit()
    page = open_page(timezone_id="Asia/Tokyo")
    sign_in(page, erin, next_path="/account/")
    zone = page.get_by_role("combobox", name="Your time zone")
    expect(zone).to_have_value("Asia/Tokyo")
    note = page.get_by_text("Filled in from this device’s time zone.")
    expect(note).to_be_visible()
    expect(zone).to_have_accessible_description(re.compile("Filled in from this device"))
    with page.expect_navigation():
        page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#content").get_by_text("Profile saved.")).to_be_visible()
    assert _reload(erin).timezone == "Asia/Tokyo"
    # Chosen now: the saved zone is shown as it is, with no suggestion.
    expect(zone).to_have_value("Asia/Tokyo")
    expect(note).to_have_count(0)


def test_the_suggestion_can_be_turned_down_and_stays_down(open_page, make_user):
    from playwright.sync_api import expect

    erin = make_user(display_name="Erin Employee", email="erin@example.com")
    db.session.commit()
    page = open_page(timezone_id="Europe/Berlin", width=390)  # a phone
    sign_in(page, erin, next_path="/account/")
    zone = page.get_by_role("combobox", name="Your time zone")
    expect(zone).to_have_value("Europe/Berlin")
    undo = page.get_by_role("button", name="Use the organization’s (UTC) instead")
    undo.focus()
    undo.press("Enter")
    expect(zone).to_have_value("")
    expect(zone).to_be_focused()
    expect(undo).to_have_count(0)
    with page.expect_navigation():
        page.get_by_role("button", name="Save", exact=True).click()
    assert _reload(erin).timezone is None
    page.goto("/account/")  # turned down on this device: not filled in again
    expect(page.get_by_role("combobox", name="Your time zone")).to_have_value("")

    # The list fits a phone screen.
    zone = page.get_by_role("combobox", name="Your time zone")
    zone.press_sequentially("europe/p", delay=20)
    listbox = page.get_by_role("listbox", name="Matching time zones")
    expect(listbox.get_by_role("option", name="Europe/Paris")).to_be_visible()
    box = listbox.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390


def test_no_suggestion_when_the_device_is_in_the_organizations_zone(open_page, make_user):
    from playwright.sync_api import expect

    erin = make_user(display_name="Erin Employee", email="erin@example.com")
    chosen = make_user(display_name="Sam Chosen", email="sam@example.com")
    chosen.timezone = "America/New_York"
    db.session.commit()
    page = open_page(timezone_id="UTC")
    sign_in(page, erin, next_path="/account/")
    expect(page.get_by_role("combobox", name="Your time zone")).to_have_value("")

    page = open_page(timezone_id="Asia/Tokyo")
    sign_in(page, chosen, next_path="/account/")  # a chosen zone is never replaced
    expect(page.get_by_role("combobox", name="Your time zone")).to_have_value("America/New_York")
    expect(page.get_by_text("Filled in from this device’s time zone.")).to_have_count(0)


def test_without_javascript_the_fields_still_work(open_page, make_user):
    from playwright.sync_api import expect

    erin = make_user(display_name="Erin Employee", email="erin@example.com")
    db.session.commit()
    page = open_page(java_script_enabled=False, timezone_id="Asia/Tokyo")
    sign_in(page, erin, next_path="/account/")
    zone = page.get_by_label("Your time zone")
    expect(zone).to_have_value("")  # nothing is filled in behind the person's back
    expect(zone).to_have_attribute("list", "timezone-names")  # the browser's own suggestions
    zone.fill("Moon/Base")
    page.get_by_label("Your name").fill("Erin Rivers")
    with page.expect_navigation():
        zone.press("Enter")
    expect(page.locator(".field__error")).to_contain_text("'Moon/Base' is not a known time zone")
    expect(page.get_by_label("Your name")).to_have_value("Erin Rivers")
    page.get_by_label("Your time zone").fill("europe/lisbon")
    with page.expect_navigation():
        page.get_by_role("button", name="Save", exact=True).click()
    assert _reload(erin).timezone == "Europe/Lisbon"


def test_the_open_list_is_accessible(open_page, make_user, axe_source):  # noqa: F811
    from playwright.sync_api import expect

    erin = make_user(display_name="Erin Employee", email="erin@example.com")
    db.session.commit()
    page = open_page(axe=axe_source, timezone_id="Asia/Tokyo", width=390)
    sign_in(page, erin, next_path="/account/")
    zone = page.get_by_role("combobox", name="Your time zone")
    zone.fill("")
    zone.press_sequentially("paris", delay=20)
    zone.press("ArrowDown")
    expect(page.get_by_role("option", name="Europe/Paris")).to_have_attribute(
        "aria-selected", "true")
    assert _violations(page) == []
