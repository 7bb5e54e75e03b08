"""In a real browser: the inbox has no accessibility violations at phone and desktop widths,
"Make a quote" works from the list (a button of the page's shared form inside the bulk form),
and "Select all" + "Dismiss selected" goes through the confirmation page."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Quote
from app.models import Role
from app.models import Verbatim
from app.models import VerbatimStatus
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import _violations
from tests.browser.test_accessibility import axe_page  # noqa: F401 (fixture)
from tests.browser.test_accessibility import axe_source  # noqa: F401 (fixture)
from tests.fixtures.voice import add
from tests.fixtures.voice import comment
from tests.fixtures.voice import make_source

pytestmark = pytest.mark.browser


@pytest.fixture
def inbox(make_user, make_team):
    team = make_team("Contact Centre")
    editor = make_user(Role.EDITOR, display_name="Dana Whitfield", email="dana@example.com")
    make_user(display_name="Noah Levi", email="noah@example.com", team=team)
    source = make_source()
    db.session.commit()
    add(source,
        comment("Noah Levi stayed on the line until my card worked. <b>Thanks</b>!", 10,
                team_id=team.id),
        comment("Forty minutes on hold. Call me on +44 20 7946 0958.", 2),
        comment("Fine, nothing special.", 7))
    return editor


def test_the_inbox_is_accessible_at_both_widths(
    inbox, axe_page  # noqa: F811 (the imported fixture)
):
    for width, height in ((390, 844), (1280, 900)):
        page = axe_page(width, height)
        sign_in(page, inbox, next_path="/review/voice/")
        assert page.get_by_role("heading", name="Customer voice").is_visible()
        assert _violations(page) == []
        first = db.session.scalar(db.select(Verbatim.id).order_by(Verbatim.id))
        page.goto(f"/review/voice/{first}")
        assert _violations(page) == []
        page.goto(f"/review/voice/{first}/story")
        assert _violations(page) == []


def test_make_a_quote_and_bulk_dismiss_from_the_list(page, inbox):
    from playwright.sync_api import expect

    sign_in(page, inbox, next_path="/review/voice/")
    page.get_by_role("button", name="Make a quote from comment 1").click()
    expect(page.get_by_role("heading", name="As it will appear in the newsletter")).to_be_visible()
    expect(page.get_by_role("link", name="Comment #1")).to_be_visible()
    db.session.rollback()  # end this thread's snapshot: the server committed since
    assert db.session.scalar(db.select(Quote.text)).startswith("Noah Levi stayed on the line")

    page.goto("/review/voice/")
    page.get_by_label("Select all on this page").check()
    page.get_by_role("button", name="Dismiss selected (2)").click()
    expect(page.get_by_role("heading", name="Dismiss 2 comments?")).to_be_visible()
    page.get_by_role("button", name="Dismiss 2 comments").click()
    expect(page.get_by_text("Dismissed 2 comments.")).to_be_visible()
    expect(page.get_by_role("heading", name="All caught up")).to_be_visible()
    db.session.rollback()
    statuses = db.session.scalars(db.select(Verbatim.status).order_by(Verbatim.id)).all()
    assert statuses == [VerbatimStatus.USED, VerbatimStatus.DISMISSED, VerbatimStatus.DISMISSED]


def test_the_import_and_sources_pages_are_accessible_and_fit_a_phone(
    make_user, axe_page  # noqa: F811 (the imported fixture)
):
    admin = make_user(Role.ADMIN, display_name="Ada Admin", email="ada@example.com")
    make_source()
    db.session.commit()
    for width, height in ((390, 844), (1280, 900)):
        page = axe_page(width, height)
        sign_in(page, admin, next_path="/review/voice/import/")
        for path in ("/review/voice/import/", "/review/voice/sources", "/review/voice/sources/new"):
            page.goto(path)
            assert _violations(page) == [], path
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, f"{path} scrolls sideways at {width} px ({scroll} px)"
