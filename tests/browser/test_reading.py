"""In a real browser, on a phone-sized and a desk-sized window: a reader opens the latest
edition from the home page, goes to a colleague's page, applauds a story (without a reload, and
with the keyboard), and finds an old story by a word in it with results as they type."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import EditionStatus
from app.models import Reaction
from app.models import SubmissionStatus
from app.models import utcnow
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.app_config(WTF_CSRF_ENABLED=True)]
P = SubmissionStatus.PUBLISHED
VIEWPORTS = {"phone": (375, 812), "desktop": (1280, 900)}


@pytest.fixture
def newsroom(make_user, make_team, make_story, make_quote, make_edition):
    team = make_team("Contact Centre")
    reader = make_user(display_name="Erin Reader", email="erin@example.com", team=team)
    noah = make_user(display_name="Noah Levi", email="noah@example.com", team=team)
    priya = make_user(display_name="Priya Raman", email="priya@example.com", team=team)
    holiday = make_story(
        author=priya,
        status=P,
        title="A late-night call that saved a family holiday",
        body="Noah stayed on the line until she boarded.\n\n> I expected a script.",
        colleagues=[noah],
        tags=["travel"],
        touchpoint_slug="phone",
    )
    old = make_story(
        author=noah,
        status=P,
        title="The umbrella in the car park",
        body="It was pouring, and Priya walked the customer to her car with the shop umbrella.",
        colleagues=[priya],
    )
    old.published_at = utcnow() - timedelta(days=400)
    quote = make_quote(status=P, text="You made my week.")
    make_edition(status=EditionStatus.SENT, subject="Going further", items=[holiday, quote])
    db.session.commit()
    return {"reader": reader, "noah": noah, "holiday": holiday, "old": old}


@pytest.mark.parametrize("size", VIEWPORTS, ids=list(VIEWPORTS))
def test_read_applaud_and_search(app, open_page, newsroom, size):
    from playwright.sync_api import expect

    page = open_page(*VIEWPORTS[size])
    sign_in(page, newsroom["reader"])
    holiday = newsroom["holiday"]

    # Home: the latest edition's highlights.
    expect(page.get_by_role("heading", name="Going further")).to_be_visible()
    edition_link = page.get_by_role("link", name="Read the whole edition")
    if "newsletter.edition" in app.view_functions:
        edition_link.click()
        expect(page.get_by_text(holiday.title).first).to_be_visible()
        page.go_back()
    else:
        expect(edition_link).to_have_count(0)
    story_link = page.get_by_role("link", name=holiday.title)
    expect(story_link).to_be_visible()
    story_link.click()
    expect(page).to_have_url(re.compile(rf"/stories/{holiday.id}$"))
    expect(page.get_by_role("heading", level=1, name=holiday.title)).to_be_visible()

    # A colleague's page, and back.
    page.locator(".kudos").get_by_role("link", name="Noah Levi").click()
    expect(page.get_by_role("heading", level=1, name="Noah Levi")).to_be_visible()
    expect(page.get_by_role("link", name=holiday.title)).to_be_visible()
    page.go_back()

    # Applause without a reload (the button keeps focus; the count changes in place).
    button = page.get_by_role("button", name=re.compile("^Applaud"))
    expect(button).to_have_attribute("aria-pressed", "false")
    page.evaluate("window.__sameDocument = true")
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(button).to_contain_text("Applauded")
    expect(button.locator("[data-applause-count]")).to_have_text("1")
    expect(page.locator("[data-applause-hint]")).to_have_text("You applauded this story.")
    assert page.evaluate("window.__sameDocument") is True  # no navigation happened
    assert _applause(holiday.id) == 1
    # Keyboard only: focus the button and press Space to take the applause back.
    button.focus()
    page.keyboard.press("Space")
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(button.locator("[data-applause-count]")).to_have_text("0")
    assert _applause(holiday.id) == 0

    # Find an old story by a word in it: results appear while typing (no submit).
    page.goto("/search")
    box = page.get_by_role("searchbox", name="Search stories and quotes")
    box.press_sequentially("umbrel", delay=40)
    results = page.locator("[data-search-results]")
    expect(results.get_by_role("heading", name=re.compile("result.* for “umbrel”"))).to_be_visible()
    expect(results.locator("mark").first).to_have_text(re.compile("umbrella", re.I))
    expect(page).to_have_url(re.compile(r"/search\?q=umbrel$"))
    results.get_by_role("link", name=re.compile("umbrella in the car park", re.I)).click()
    heading = page.get_by_role("heading", level=1, name="The umbrella in the car park")
    expect(heading).to_be_visible()


def test_applause_and_search_work_without_javascript(open_page, newsroom):
    from playwright.sync_api import expect

    page = open_page(1280, 900, java_script_enabled=False)
    sign_in(page, newsroom["reader"])
    holiday = newsroom["holiday"]
    page.goto(f"/stories/{holiday.id}")
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("^Applaud")).click()
    expect(page).to_have_url(re.compile(rf"/stories/{holiday.id}#applause$"))
    expect(page.get_by_role("button", name=re.compile("^Applauded"))).to_have_attribute(
        "aria-pressed", "true"
    )
    assert _applause(holiday.id) == 1

    page.goto("/search")
    page.get_by_role("searchbox", name="Search stories and quotes").fill("pouring")
    with page.expect_navigation():
        page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("[data-search-results] mark").first).to_have_text("pouring")


def test_phone_layout_has_no_sideways_scrolling(open_page, newsroom):
    page = open_page(360, 740)
    sign_in(page, newsroom["reader"])
    for path in ("/", f"/stories/{newsroom['holiday'].id}", f"/people/{newsroom['noah'].id}",
                 "/search?q=umbrella"):
        page.goto(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 360px"


def _applause(story_id: int) -> int:
    db.session.rollback()  # read what the server committed, not a stale snapshot
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Reaction).where(Reaction.story_id == story_id)
    )
