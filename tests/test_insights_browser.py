"""The insights page in a real Chromium: no CSP or script errors, and axe-core finds no serious
or critical accessibility problem, on a phone-sized and a desk-sized window.

Uses the shared browser fixtures (tests/fixtures/browser.py) and axe-core from `make axe`;
without Chromium, Playwright or axe-core the tests skip (or fail with REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import pytest

from app.models import Role
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.conftest import _unavailable
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import AXE_PATH
from tests.browser.test_accessibility import BLOCKING
from tests.browser.test_accessibility import VIEWPORTS
from tests.test_insights_queries import world  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.app_config(WTF_CSRF_ENABLED=True)]
URL = "/insights/?period=custom&from=2026-03-16&to=2026-04-05"


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE_PATH.is_file():
        _unavailable(f"axe-core not found at {AXE_PATH} (run `make axe`, or set AXE_CORE_PATH)")
    return AXE_PATH.read_text(encoding="utf-8")


@pytest.mark.parametrize("size", VIEWPORTS, ids=list(VIEWPORTS))
def test_insights_page_is_accessible_and_script_clean(
    browser,  # noqa: F811
    live_server,  # noqa: F811
    axe_source,
    world,  # noqa: F811
    make_user,
    db,
    size,
):
    editor = make_user(Role.EDITOR)
    db.session.commit()
    width, height = VIEWPORTS[size]
    context = browser.new_context(base_url=live_server, viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(script=axe_source)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        sign_in(page, editor)
        response = page.goto(URL)
        assert response is not None and response.status == 200
        assert page.get_by_role("img", name="Recognition coverage per team").is_visible()
        violations = page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
                .map(v => `${v.impact}: ${v.id} at ${v.nodes.slice(0, 3).map(n => n.target)}`)"""
        )
    finally:
        context.close()
    assert [v for v in violations if v.split(":")[0] in BLOCKING] == []
    assert errors == []
