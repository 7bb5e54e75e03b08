"""axe-core on every main page, on a phone-sized and a desk-sized window: zero serious or
critical violations.

axe-core comes from npm (`make axe`, run by `make test`: .cache/axe/node_modules/axe-core), or
from AXE_CORE_PATH. It is injected as an init script, which Chromium runs outside the page's
Content-Security-Policy, so the pages are checked exactly as served. Without it the tests skip,
or fail when REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from app.extensions import db
from app.models import EditionStatus
from app.models import Reaction
from app.models import SubmissionStatus
from app.models import utcnow
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.conftest import _unavailable
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.app_config(WTF_CSRF_ENABLED=True)]
P = SubmissionStatus.PUBLISHED
ROOT = Path(__file__).resolve().parents[2]
AXE_PATH = Path(
    os.environ.get("AXE_CORE_PATH", ROOT / ".cache/axe/node_modules/axe-core/axe.min.js")
)
VIEWPORTS = {"phone": (375, 812), "desktop": (1280, 900)}
BLOCKING = {"serious", "critical"}


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_PATH.is_file():
        _unavailable(f"axe-core not found at {AXE_PATH} (run `make axe`, or set AXE_CORE_PATH)")
    return AXE_PATH.read_text(encoding="utf-8")


@pytest.fixture
def content(make_user, make_team, make_story, make_quote, make_edition):
    team = make_team("Contact Centre")
    reader = make_user(display_name="Erin Reader", email="erin@example.com", team=team)
    noah = make_user(display_name="Noah Levi", team=team)
    story = make_story(
        author=reader,
        status=P,
        title="A late-night call that saved a family holiday",
        body="Noah **stayed on the line**.\n\n> I expected a script.\n\n- one\n- two",
        colleagues=[noah],
        names=["Marco from the airline desk"],
        tags=["travel"],
        touchpoint_slug="phone",
    )
    old = make_story(author=noah, status=P, title="A year-old umbrella story", colleagues=[reader])
    old.published_at = utcnow() - timedelta(weeks=52)
    db.session.add(Reaction(user_id=noah.id, story_id=story.id))
    quote = make_quote(status=P, text="You made my week.", nps_score=10)
    edition = make_edition(status=EditionStatus.SENT, subject="Going further", items=[story, quote])
    db.session.commit()
    return {"reader": reader, "noah": noah, "team": team, "story": story, "edition": edition}


@pytest.fixture
def axe_page(browser, live_server, axe_source) -> Iterator:
    contexts = []

    def _open(width: int, height: int):
        viewport = {"width": width, "height": height}
        context = browser.new_context(base_url=live_server, viewport=viewport)
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(script=axe_source)
        contexts.append(context)
        return context.new_page()

    yield _open
    for context in contexts:
        context.close()


def _violations(page) -> list[str]:
    # Colours are only final once transitions (menus opening, fades) have finished.
    page.evaluate(
        """Promise.all(document.getAnimations()
            .filter(a => a.effect && a.effect.getTiming().iterations !== Infinity)
            .map(a => a.finished))"""
    )
    results = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
        }"""
    )
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {v['targets']}"
        for v in results
        if v["impact"] in BLOCKING
    ]


def _main_pages(app, content) -> dict[str, str]:
    pages = {
        "home": "/",
        "story": f"/stories/{content['story'].id}",
        "person": f"/people/{content['noah'].id}",
        "team": f"/teams/{content['team'].id}",
        "search": "/search?q=call",
        "search-empty": "/search?q=nothingmatches&team=1",
        "tag": "/tags/travel",
    }
    if "newsletter.edition" in app.view_functions:
        pages["edition"] = f"/editions/{content['edition'].number}"
    return pages


@pytest.mark.parametrize("size", VIEWPORTS, ids=list(VIEWPORTS))
def test_main_pages_have_no_serious_violations(app, axe_page, content, size):
    page = axe_page(*VIEWPORTS[size])
    page.goto("/login")
    problems = {"login": _violations(page)}
    sign_in(page, content["reader"])
    for name, path in _main_pages(app, content).items():
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        problems[name] = _violations(page)
    assert {k: v for k, v in problems.items() if v} == {}


def test_open_menus_and_live_results_stay_accessible(axe_page, content):
    """States that only exist after interaction: the phone menu open, results typed live."""
    from playwright.sync_api import expect

    page = axe_page(375, 812)
    sign_in(page, content["reader"])
    page.get_by_text("Menu", exact=True).click()
    assert _violations(page) == []
    page.goto("/search")
    page.get_by_role("searchbox", name="Search stories and quotes").press_sequentially("late")
    expect(page.locator("[data-search-results] mark").first).to_be_visible()
    page.locator(".search-form__filters summary").click()
    assert _violations(page) == []


def test_the_checker_itself_catches_a_planted_problem(axe_page, content):
    """Guards the harness: a silent axe (not injected, wrong filter) would pass everything."""
    page = axe_page(1280, 900)
    sign_in(page, content["reader"])
    page.evaluate(
        """() => {
            const img = document.createElement("img");
            img.src = "/static/img/logo.svg";
            document.querySelector("main").append(img);
            const button = document.createElement("button");
            document.querySelector("main").append(button);
        }"""
    )
    found = " ".join(_violations(page))
    assert "image-alt" in found and "button-name" in found
