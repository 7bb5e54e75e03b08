"""In a real browser: the colleague picker credits accounts first. "Add … without an account"
is always the last row and never the default, so the usual ArrowDown + Enter credits the
colleague's account (who is then notified and counted in insights), not a free-text name.
And the "Recognize <name>" link (`/stories/new?colleague=<id>`) opens the form with that
colleague already picked."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Story
from app.models import SubmissionStatus
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def people(make_user, make_team):
    team = make_team("Contact Centre")
    author = make_user(display_name="Priya Raman", email="priya@example.com", team=team)
    noah = make_user(display_name="Noah Levi", email="noah@example.com", team=team)
    make_user(display_name="Noah Gone", email="noah.gone@example.com", active=False)
    db.session.commit()
    return author, noah


def write_story(page, title: str) -> None:
    page.get_by_label("Title").fill(title)
    page.get_by_label("The story").fill("Noah stayed on the line until the customer boarded.")
    page.get_by_label("Describe the customer without naming them").fill("retail banking")


def saved_story(title: str) -> Story:
    db.session.rollback()  # end the test's read transaction: see what the server committed
    return db.session.scalars(sa.select(Story).where(Story.title == title)).one()


def submit_and_check_credits(page, title: str, noah) -> None:
    page.get_by_role("button", name="Submit for review").click()
    page.get_by_text("Your story is with the editors now").wait_for()
    story = saved_story(title)
    assert story.status == SubmissionStatus.SUBMITTED
    assert [(r.user_id, r.name) for r in story.recognitions] == [(noah.id, None)]


def test_arrow_down_and_enter_credit_the_account(page, people):
    from playwright.sync_api import expect

    author, noah = people
    sign_in(page, author, next_path="/stories/new")
    write_story(page, "Credited by keyboard")

    picker = page.get_by_role("combobox", name="Colleagues to recognize")
    picker.press_sequentially("Noah", delay=30)
    listbox = page.get_by_role("listbox", name="Matching colleagues")
    options = listbox.get_by_role("option")
    expect(options).to_have_count(2)
    # Real people first, the free-text row last; nothing is chosen until the arrows move.
    expect(options.first).to_contain_text("Noah Levi")
    expect(options.last).to_have_text(re.compile("Add “Noah” without an account"))
    expect(listbox.locator("[aria-selected=true]")).to_have_count(0)
    expect(picker).not_to_have_attribute("aria-activedescendant", re.compile("."))

    picker.press("ArrowDown")
    expect(options.first).to_have_attribute("aria-selected", "true")
    picker.press("Enter")
    chips = page.locator(".picker__chip")
    expect(chips).to_have_count(1)
    expect(chips.first).to_contain_text("Noah Levi")
    expect(chips.first).not_to_contain_text("no account")
    expect(page.locator("#colleagues")).to_have_value("noah@example.com")
    expect(page.locator("#colleague_names")).to_have_value("")

    submit_and_check_credits(page, "Credited by keyboard", noah)


def test_arrow_down_before_the_results_arrive_still_lands_on_the_person(page, people):
    from playwright.sync_api import expect

    author, noah = people
    sign_in(page, author, next_path="/stories/new")
    write_story(page, "Quick fingers")
    picker = page.get_by_role("combobox", name="Colleagues to recognize")
    picker.press_sequentially("Noah")
    picker.press("ArrowDown")  # the list is not open yet
    expect(picker).to_have_attribute("aria-activedescendant", re.compile("option-0$"))
    picker.press("Enter")
    expect(page.locator(".picker__chip")).to_have_text(re.compile("Noah Levi"))
    submit_and_check_credits(page, "Quick fingers", noah)


def test_a_name_without_an_account_needs_a_deliberate_choice(page, people):
    from playwright.sync_api import expect

    author, _ = people
    sign_in(page, author, next_path="/stories/new")
    picker = page.get_by_role("combobox", name="Colleagues to recognize")
    picker.press_sequentially("Sam from the desk", delay=10)
    listbox = page.get_by_role("listbox", name="Matching colleagues")
    add = listbox.get_by_role("option", name="Add “Sam from the desk” without an account")
    expect(add).to_be_visible()
    picker.press("Enter")  # nothing chosen: nothing added, the list stays
    chips = page.locator(".picker__chip")
    expect(chips).to_have_count(0)
    expect(add).to_be_visible()
    picker.press("ArrowDown")
    picker.press("Enter")
    expect(chips).to_have_count(1)
    expect(chips.first).to_contain_text("no account")
    expect(page.locator("#colleague_names")).to_have_value("Sam from the desk")

    # One matching account and Enter without the arrows: that account (unambiguous).
    picker.press_sequentially("levi", delay=30)
    expect(listbox.get_by_role("option", name=re.compile("Noah Levi"))).to_be_visible()
    picker.press("Enter")
    expect(chips).to_have_count(2)
    expect(page.locator("#colleagues")).to_have_value("noah@example.com")


def test_the_recognize_link_opens_the_form_with_the_colleague_picked(page, people):
    from playwright.sync_api import expect

    author, noah = people
    sign_in(page, author, next_path=f"/stories/new?colleague={noah.id}")
    chips = page.locator(".picker__chip")
    expect(chips).to_have_count(1)
    expect(chips.first).to_contain_text("Noah Levi")
    expect(chips.first).not_to_contain_text("no account")
    write_story(page, "Recognized from his page")
    submit_and_check_credits(page, "Recognized from his page", noah)
