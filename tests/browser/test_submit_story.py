"""In a real browser: share a story recognizing two colleagues with the search-as-you-type
picker, watch the live preview, save a draft, submit it, share a quote with an NPS score and
find both on "My submissions"."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Quote
from app.models import Story
from app.models import SubmissionStatus
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


def test_share_a_story_and_a_quote(page, make_user, make_team):
    from playwright.sync_api import expect

    team = make_team("Contact Centre")
    author = make_user(display_name="Priya Raman", email="priya@example.com", team=team)
    make_user(display_name="Noah Levi", email="noah@example.com", team=team)
    make_user(display_name="Nora Gone", email="nora@example.com", active=False)
    db.session.commit()

    sign_in(page, author, next_path="/my/submissions")
    page.get_by_role("link", name="Share a story").first.click()
    expect(page.get_by_role("heading", name="Who made a customer’s day?")).to_be_visible()
    # With JavaScript the no-JS Preview button is gone and the preview is live.
    expect(page.get_by_role("button", name="Preview")).to_be_hidden()

    page.get_by_label("Title").fill("A late-night call that saved a holiday")
    body = page.get_by_label("The story")
    body.press_sequentially("Noah stayed on the line **until she boarded**.", delay=5)
    preview = page.locator("[data-preview-output]")
    expect(preview.locator("strong")).to_have_text("until she boarded")
    body.press_sequentially("\n\n- verified her\n- lifted the block", delay=5)
    expect(preview.locator("li")).to_have_count(2)

    # The picker: an account found by searching, then a person without an account.
    picker = page.get_by_role("combobox", name="Colleagues to recognize")
    picker.press_sequentially("noa", delay=30)
    listbox = page.get_by_role("listbox", name="Matching colleagues")
    expect(listbox.get_by_role("option", name=re.compile("Noah Levi"))).to_be_visible()
    expect(listbox.get_by_role("option", name=re.compile("Nora Gone"))).to_have_count(0)
    picker.press("ArrowDown")  # nothing is pre-selected: the first row is a real person
    expect(picker).to_have_attribute("aria-activedescendant", re.compile("option-0"))
    picker.press("Enter")
    chips = page.locator(".picker__chip")
    expect(chips).to_have_count(1)
    expect(chips.first).to_contain_text("Noah Levi")

    picker.press_sequentially("Sam from the airline desk", delay=10)
    add = listbox.get_by_role("option", name="Add “Sam from the airline desk” without an account")
    expect(add).to_be_visible()
    picker.press("ArrowDown")  # a name without an account is never the default
    picker.press("Enter")
    expect(chips).to_have_count(2)
    expect(chips.nth(1)).to_contain_text("no account")
    # Written back into the original fields, which is what the server reads.
    expect(page.locator("#colleagues")).to_have_value("noah@example.com")
    expect(page.locator("#colleague_names")).to_have_value("Sam from the airline desk")
    # Backspace on the empty search removes the last person; add them again by mouse.
    picker.press("Backspace")
    expect(chips).to_have_count(1)
    picker.press_sequentially("Sam from the airline desk", delay=10)
    add.click()
    expect(chips).to_have_count(2)

    touchpoint = page.get_by_label("Where did the customer meet us?")
    touchpoint.select_option(label="Phone / contact centre")
    page.get_by_label("Describe the customer without naming them").fill("retail banking")
    page.get_by_label("Tags").fill("going the extra mile, travel")
    page.get_by_role("button", name="Save draft").click()

    expect(page.get_by_text("Only you can see this draft")).to_be_visible()
    title = page.locator(".story-view__title")
    expect(title).to_have_text("A late-night call that saved a holiday")
    expect(page.locator(".story-view")).to_contain_text("Noah Levi")
    expect(page.locator(".story-view")).to_contain_text("Sam from the airline desk")
    expect(page.locator(".story-view")).to_contain_text("For a customer in retail banking")

    # Submit it.
    page.get_by_role("link", name="Edit story").click()
    expect(page.locator(".picker__chip")).to_have_count(2)
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_text("Your story is with the editors now")).to_be_visible()
    expect(page.locator(".status-panel .badge")).to_have_text("Submitted")

    # A quote with an NPS score.
    page.goto("/quotes/new")
    page.get_by_label("The quote").fill("You fixed it before I even noticed. Thank you!")
    expect(page.locator("[data-preview-output]")).to_contain_text("before I even noticed")
    page.get_by_label("Survey / NPS").check()
    page.get_by_label("NPS score").select_option("9")
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_text("Your quote is with the editors now")).to_be_visible()

    # Both on "My submissions".
    page.goto("/my/submissions")
    items = page.locator(".submission")
    expect(items).to_have_count(2)
    expect(items.filter(has_text="A late-night call")).to_contain_text("Submitted")
    expect(items.filter(has_text="You fixed it before I even noticed")).to_contain_text("NPS 9")

    db.session.rollback()  # end the test's read transaction: see what the server committed
    story = db.session.scalars(sa.select(Story)).one()
    quote = db.session.scalars(sa.select(Quote)).one()
    assert story.status == quote.status == SubmissionStatus.SUBMITTED
    names = [r.display_name for r in story.recognitions]
    assert names == ["Noah Levi", "Sam from the airline desk"]
    assert quote.nps_score == 9
