"""The three everyday journeys, end to end in a real browser, on a desk (1280 px) and a phone
(390 px): an employee shares a story, an editor takes it from the queue to everyone's inbox,
an admin moves the weekly send time.

Every page visited is checked as the user sees it: no JavaScript error or console error (CSP
violations included), zero serious or critical axe-core violations, and nothing that scrolls
sideways. A guard fails the test if a page was visited but never checked. Navigation goes
through the menus a user would use (the phone's "Menu", the account menu), by role and label.
CSRF is on, as in production, so every form and every fetch must carry its token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from email.utils import parseaddr

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Edition
from app.models import Role
from app.models import Story
from app.models import SubmissionStatus
from app.newsletter import sending
from app.settings import get_settings
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import _violations
from tests.browser.test_accessibility import axe_source  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.app_config(WTF_CSRF_ENABLED=True),
]
S = SubmissionStatus
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}


@dataclass
class Journey:
    """One signed-in browser tab, and what was wrong on the pages it went through."""

    page: object
    phone: bool
    problems: list[str] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)
    finished: bool = False

    def check(self, label: str) -> None:
        """axe-core and sideways scrolling on the page as it is now (after a settle)."""
        page = self.page
        page.wait_for_load_state("load")
        for violation in _violations(page):
            self.problems.append(f"{label}: {violation}")
        if page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth"):
            wide = page.evaluate(
                """() => [...document.querySelectorAll("main *")]
                    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                    .slice(0, 3).map(e => e.tagName.toLowerCase() + "." + e.className)"""
            )
            self.problems.append(f"{label}: scrolls sideways ({wide})")
        self.checked.add(_path(page.url))

    def menu(self, link: str | re.Pattern[str], *, account: bool = False) -> None:
        """Follow a link from the main navigation, or from the account menu, as this screen
        shows them: the phone has one "Menu" holding both."""
        page = self.page
        if self.phone:
            page.get_by_text("Menu", exact=True).click()
        elif account:
            page.locator("summary").filter(has_text="account menu").click()
        if self.phone or account:
            where = page.locator("details[data-menu][open]")
        else:
            where = page.get_by_role("navigation", name="Main")
        with page.expect_navigation():
            where.get_by_role("link", name=link, exact=True).click()


def _sign_in(trip: Journey, user) -> None:
    """The login page is a page of the journey too: checked, then the shared sign-in."""
    trip.page.goto("/login")
    trip.check("sign in")
    sign_in(trip.page, user)
    trip.check("home")


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url).split("#")[0]


@pytest.fixture(params=list(VIEWPORTS), ids=list(VIEWPORTS))
def journey(request, browser, live_server, axe_source) -> Iterator[Journey]:  # noqa: F811
    width, height = VIEWPORTS[request.param]
    context = browser.new_context(base_url=live_server, viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(script=axe_source)
    page = context.new_page()
    trip = Journey(page=page, phone=width < 600)

    def on_console(message) -> None:
        if message.type == "error":
            trip.problems.append(f"console {message.type}: {message.text}")

    def on_navigated(frame) -> None:
        if frame == page.main_frame and frame.url.startswith("http"):
            trip.visited.append(_path(frame.url))

    page.on("pageerror", lambda error: trip.problems.append(f"page error: {error}"))
    page.on("console", on_console)
    page.on("framenavigated", on_navigated)
    yield trip
    context.close()
    if not trip.finished:  # the journey stopped early: say what the browser reported, too
        assert trip.problems == [], "\n".join(trip.problems)


def _finish(trip: Journey) -> None:
    """The journey's verdict: nothing wrong anywhere, and every page visited was checked."""
    trip.finished = True
    unchecked = sorted({p for p in trip.visited if p not in trip.checked})
    assert trip.problems == [], "\n".join(trip.problems)
    assert unchecked == [], f"pages visited but not checked: {unchecked}"


# ---------------------------------------------------------------------------------- employee


def test_employee_shares_a_story(journey, make_user, make_team):
    from playwright.sync_api import expect

    team = make_team("Contact Centre")
    author = make_user(display_name="Priya Raman", email="priya@example.com", team=team)
    make_user(display_name="Noah Levi", email="noah@example.com", team=team)
    db.session.commit()
    page = journey.page

    _sign_in(journey, author)

    # Write it: title, a Markdown list (live preview), a colleague from the picker, touchpoint.
    journey.menu("Share")
    expect(page.get_by_role("heading", name="Who made a customer’s day?")).to_be_visible()
    journey.check("share a story")
    page.get_by_label("Title").fill("The late-night call that saved a holiday")
    body = page.get_by_label("The story")
    body.fill("Noah stayed on the line **until she boarded**.\n\n- verified her\n")
    body.press("End")
    body.press_sequentially("- lifted the block", delay=5)
    preview = page.locator("[data-preview-output]")
    expect(preview.locator("li")).to_have_count(2)
    expect(preview.locator("strong")).to_have_text("until she boarded")

    picker = page.get_by_role("combobox", name="Colleagues to recognize")
    picker.press_sequentially("noa", delay=30)
    listbox = page.get_by_role("listbox", name="Matching colleagues")
    noah = listbox.get_by_role("option", name=re.compile("Noah Levi"))
    expect(noah).to_be_visible()
    journey.check("share a story, picker open")
    noah.click()
    expect(page.locator(".picker__chip")).to_have_count(1)
    expect(page.locator(".picker__chip").first).to_contain_text("Noah Levi")
    page.get_by_label("Where did the customer meet us?").select_option(
        label="Phone / contact centre"
    )
    journey.check("share a story, filled in")

    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Only you can see this draft")).to_be_visible()
    journey.check("draft saved")

    # Open the draft from "My submissions" (main navigation) and submit it from its own page.
    journey.menu("My submissions")
    mine = page.get_by_role("main").get_by_role("listitem").filter(has_text="The late-night")
    expect(mine).to_contain_text("Draft")
    journey.check("my submissions, draft")
    mine.get_by_role("link", name="The late-night call that saved a holiday").click()
    expect(page.get_by_role("heading", name="Your story")).to_be_visible()
    journey.check("the draft's page")
    submit = page.get_by_role("button", name="Submit for review")
    expect(submit).to_be_visible()
    # The status panel comes before the preview: on a phone too, no scrolling to find it.
    expect(submit).to_be_in_viewport()
    submit.click()
    expect(page.get_by_text("Your story is with the editors now")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Status"))).to_contain_text("Submitted")
    journey.check("submitted")

    journey.menu("My submissions")
    mine = page.get_by_role("main").get_by_role("listitem").filter(has_text="The late-night")
    expect(mine).to_contain_text("Submitted")
    journey.check("my submissions, submitted")

    db.session.rollback()  # end this thread's read snapshot: see what the server committed
    story = db.session.scalars(sa.select(Story)).one()
    assert story.status == S.SUBMITTED
    assert [r.display_name for r in story.recognitions] == ["Noah Levi"]
    assert story.touchpoint.slug == "phone"
    assert "<li>lifted the block</li>" in story.body_html
    _finish(journey)


# ------------------------------------------------------------------------------------ editor


def test_editor_reviews_edits_approves_and_sends(journey, make_user, make_story, outbox):
    from playwright.sync_api import expect

    editor = make_user(Role.EDITOR, display_name="Dana Whitfield", email="dana@example.com")
    author = make_user(display_name="Priya Raman", email="priya@example.com")
    noah = make_user(display_name="Noah Levi", email="noah@example.com")
    make_story(
        author=author,
        status=S.SUBMITTED,
        title="The umbrella in the rain",
        body="A customer arrived soaked and upset.\n\n- Noah lent her his umbrella",
        colleagues=[noah],
    )
    db.session.commit()
    page = journey.page
    page.on("dialog", lambda dialog: dialog.accept())  # any data-confirm on the way

    _sign_in(journey, editor)
    journey.menu(re.compile(r"^Review"))
    journey.check("review queue")
    page.get_by_role("link", name="Review The umbrella in the rain").click()
    expect(page.get_by_role("heading", name="As it will appear in the newsletter")).to_be_visible()
    journey.check("review item")
    # The decision: beside the preview on a desk, right after it on a phone (before History).
    approve = page.get_by_role("button", name="Approve", exact=True).bounding_box()
    preview = page.locator(".review-preview").bounding_box()
    history = page.get_by_role("heading", name="History").bounding_box()
    if journey.phone:
        assert preview["y"] < approve["y"] < history["y"]
    else:
        assert approve["x"] > preview["x"] + preview["width"] and approve["y"] < history["y"]

    # Edit: one word changes; the edit is kept as a revision.
    page.get_by_role("link", name="Edit the story").click()
    expect(page.get_by_role("heading", name="Edit the story")).to_be_visible()
    journey.check("edit")
    body = page.get_by_label("The story")
    expect(body).to_have_value(re.compile("soaked and upset"))
    body.fill(body.input_value().replace("upset", "worried"))
    expect(page.locator("[data-preview-output]")).to_contain_text("soaked and worried")
    page.get_by_role("button", name="Save the edit").click()
    expect(page.get_by_role("heading", name="As it will appear in the newsletter")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="kept as a revision")).to_be_visible()
    expect(page.locator(".review-preview")).to_contain_text("soaked and worried")
    revisions = page.get_by_role("region", name="Revisions")
    expect(revisions.get_by_text("(editor)")).to_be_visible()
    expect(revisions).to_contain_text("worried")
    journey.check("review item, edited")

    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="lined up for edition #1")).to_be_visible()
    journey.check("after approving")

    # The upcoming edition; send it now, confirm, and follow it to "sent".
    journey.menu("Upcoming")
    expect(page.locator("[data-edition-items]")).to_contain_text("The umbrella in the rain")
    expect(page.get_by_text("No subject yet: it goes out as “Feel Good Fridays #1: This week”."))\
        .to_be_visible()
    journey.check("upcoming edition")
    page.get_by_role("link", name="Send now…").first.click()
    expect(page.get_by_role("heading", name="Send edition #1 now?")).to_be_visible()
    journey.check("confirm send")
    page.get_by_role("button", name="Send to everyone now").click()
    expect(page).to_have_url(re.compile(r"/editions/1$"))
    status = page.get_by_role("heading", name=re.compile("Starting to send|Sending"))
    expect(status).to_be_visible()
    # Not counted yet: "—", not "0 Recipients".
    expect(page.locator('[data-progress="total"]')).to_have_text("—")
    flash = page.locator(".flash-stack")
    expect(flash).to_contain_text("Edition #1 is on its way")
    journey.check("progress, starting")

    # The scheduler's part (its own process in production), through the memory mail backend.
    db.session.rollback()
    edition_id = db.session.scalar(sa.select(Edition.id).where(Edition.number == 1))
    sending.run_edition(edition_id)
    done = page.locator("#nl-status-title")
    expect(done).to_have_text("Sent", timeout=15_000)
    expect(page.locator("[data-progress-note]")).to_contain_text("All done: 3 sent, 0 failed.")
    expect(page.locator('[data-progress="total"]')).to_have_text("3")
    expect(flash.locator(".alert__body")).to_have_text("Edition #1 has been sent.")
    expect(flash).not_to_contain_text("on its way")  # no stale flash above "Sent"
    journey.check("progress, sent")

    # And on to the next one.
    with page.expect_navigation():
        page.get_by_role("link", name="Arrange the next edition").click()
    expect(page.get_by_text("Edition #2 ·")).to_be_visible()
    journey.check("the next edition")

    newsletters = [m for m in outbox if m["Subject"].startswith("Feel Good Fridays #1:")]
    assert sorted(parseaddr(m["To"])[1] for m in newsletters) == [
        "dana@example.com",
        "noah@example.com",
        "priya@example.com",
    ]
    assert "soaked and worried" in newsletters[0].get_body(("plain",)).get_content()
    _finish(journey)


# ------------------------------------------------------------------------------------- admin


def test_admin_changes_the_send_time_and_zone(journey, make_user):
    from playwright.sync_api import expect

    admin = make_user(Role.ADMIN, display_name="Ada Admin", email="ada@example.com")
    db.session.commit()
    page = journey.page

    _sign_in(journey, admin)
    journey.menu("Settings", account=True)
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
    # Where am I: the current tab is in sight, even when the row of tabs is wider than a phone.
    tabs = page.get_by_role("navigation", name="Administration")
    expect(tabs.get_by_role("link", name="Settings")).to_be_in_viewport(ratio=0.95)
    journey.check("settings")

    page.get_by_label("Send time").fill("10:30")
    # The time zone: searched by a place's name, picked from the list.
    zone = page.get_by_role("combobox", name="Organization time zone")
    zone.fill("")
    zone.press_sequentially("paris", delay=10)
    paris = page.get_by_role("listbox", name="Matching time zones").get_by_role(
        "option", name="Europe/Paris"
    )
    expect(paris).to_be_visible()
    journey.check("settings, choosing a time zone")
    paris.click()
    expect(zone).to_have_value("Europe/Paris")
    journey.check("settings, filled in")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").filter(has_text="Settings saved.")).to_be_visible()
    journey.check("settings saved")

    # Kept: in the fields and in the summary of the next send.
    expect(page.get_by_label("Send time")).to_have_value("10:30")
    expect(zone).to_have_value("Europe/Paris")
    next_send = page.locator("p").filter(has_text="Next edition:")
    expect(next_send).to_contain_text("10:30 (Europe/Paris")

    db.session.rollback()
    stored = get_settings()
    assert (stored["send_time"], stored["timezone"]) == ("10:30", "Europe/Paris")
    _finish(journey)
