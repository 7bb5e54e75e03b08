"""The readership report in Chromium, as an editor sees it on a phone and a desk: no serious
axe-core violation, nothing wider than the screen (tables scroll inside their frame), the
explanation of the figures opens, and the comparison's arrows are read out in words."""

from __future__ import annotations

import os

import pytest

from app.extensions import db
from app.models import Role
from app.settings import set_settings
from tests import factories
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import _violations
from tests.browser.test_accessibility import axe_page  # noqa: F401  (fixture)
from tests.browser.test_accessibility import axe_source  # noqa: F401  (fixture)
from tests.test_engagement_report import CLICKS_ONLY
from tests.test_engagement_report import _deliver
from tests.test_engagement_report import events
from tests.test_engagement_report import sent
from tests.test_engagement_report import stories_of

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = os.environ.get("REPORT_SCREENSHOTS")  # a folder: keep screenshots for a human look


@pytest.fixture
def report_edition(app):
    set_settings({"analytics_mode": "person"}, actor=None)
    editor = factories.make_user(Role.EDITOR, email="dana@example.com")
    sent(1, delivered=40, html=CLICKS_ONLY)  # opens not measured then
    support = factories.make_team("Customer Support and Long-Named Operations")
    legal = factories.make_team("Legal")
    people = [factories.make_user(team=support) for _ in range(8)]
    people += [factories.make_user(team=legal) for _ in range(2)]
    edition = sent(2, stories=3, quotes=1, delivered=10, web_views=14)
    stories_of(edition)[0].title = "A very long story title " * 5
    _deliver(edition, people)
    readers = people[:5] + people[8:9]
    events(edition, "open", [f"d{u.id}" for u in readers], user_ids=[u.id for u in readers])
    events(edition, "proxy_open", ["p1", "p2"])
    events(edition, "click", [f"d{u.id}" for u in people[:3]], item=stories_of(edition)[0],
           user_ids=[u.id for u in people[:3]])
    db.session.commit()
    return editor, edition


@pytest.mark.parametrize("width,height", [(390, 844), (1280, 900)], ids=["phone", "desk"])
def test_the_report_reads_well_and_passes_axe(app, axe_page, report_edition, width, height):  # noqa: F811
    editor, edition = report_edition
    page = axe_page(width, height)
    sign_in(page, editor)
    page.goto(f"/editions/{edition.number}")
    report = page.locator("[data-readership]")
    assert report.is_visible()
    page.get_by_text("What these numbers mean").click()
    assert page.get_by_text("It is a lower bound").is_visible()
    assert page.get_by_text("Opens are a lower bound").is_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"page {overflow}px wider than the {width}px window"
    spoken = page.locator('[data-compare="Delivered"] .visually-hidden').text_content()
    assert spoken == "down 30"  # 10 delivered against 40: "▼" is not read out
    assert page.locator('[data-compare="Open rate"]').inner_text().split("\t")[1:3] == [
        "60.0 %", "not measured"]
    assert "Small teams" in report.inner_text()
    if SHOTS:
        report.screenshot(path=os.path.join(SHOTS, f"report-{width}.png"))
    assert _violations(page) == []
