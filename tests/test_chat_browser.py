"""Admin → Chat in Chromium, at desk and phone widths: the pages render without horizontal
scrolling or console errors, pass axe-core (no serious or critical violations), and the add
form works with CSRF on, keeping the secret out of every page after saving."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.extensions import db
from app.models import ChatDestination
from app.models import ChatPostStatus
from app.models import Role
from tests.fixtures.browser import _unavailable
from tests.fixtures.browser import sign_in
from tests.fixtures.chat import make_destination
from tests.fixtures.chat import make_post

pytestmark = [pytest.mark.browser, pytest.mark.app_config(WTF_CSRF_ENABLED=True)]
ROOT = Path(__file__).resolve().parent.parent
AXE_PATH = Path(
    os.environ.get("AXE_CORE_PATH", ROOT / ".cache/axe/node_modules/axe-core/axe.min.js"))
SECRET = "Hx8Qm2Lr6Tz0Wc4Vb7Nd"
SCREENSHOTS = os.environ.get("CHAT_SCREENSHOTS")  # a folder: save each page, to look at


def _axe() -> str:
    if not AXE_PATH.is_file():
        _unavailable(f"axe-core not found at {AXE_PATH} (run `make axe`, or set AXE_CORE_PATH)")
    return AXE_PATH.read_text(encoding="utf-8")


def _serious(page) -> list[str]:
    found = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ["violations"]});
        return r.violations.filter(v => ["serious", "critical"].includes(v.impact))
            .map(v => v.id + " " + v.nodes.slice(0, 3).map(n => n.target.join(" ")));
    }""")
    return list(found)


def test_chat_pages_in_chromium(app, make_user, make_team, open_page, chat_server):
    chat_server.expect_request(f"/services/T/B/{SECRET}").respond_with_data("ok")
    admin = make_user(Role.ADMIN, email="ada@example.com", display_name="Ada Admin")
    make_team("Contact Centre")
    broken = make_destination(chat_server.url_for("/teams/" + "w" * 300), kind="teams",
                              name="Teams · Contact Centre", on_story_published=True)
    broken.last_failure = "404 " + "The workflow was not found or is turned off. " * 6
    broken.last_failure_at = broken.created_at
    make_post(broken, key="a", status=ChatPostStatus.FAILED, attempts=1, response_code=404,
              response_text=broken.last_failure)
    make_post(broken, key="b", attempts=2, response_code=None,
              response_text="ReadTimeout: HTTPSConnectionPool read timed out. (read timeout=10)")
    db.session.commit()
    axe = _axe()

    for width, height in ((1280, 900), (390, 844)):
        page = open_page(width, height, axe=axe)
        sign_in(page, admin)
        for path in ("/admin/chat/", "/admin/chat/new", f"/admin/chat/{broken.id}",
                     f"/admin/chat/{broken.id}/edit", f"/admin/chat/{broken.id}/delete"):
            page.goto(path)
            assert page.evaluate(
                "document.documentElement.scrollWidth <= window.innerWidth + 1"), (path, width)
            assert _serious(page) == [], (path, width)
            if SCREENSHOTS:
                name = path.strip("/").replace("/", "_") or "index"
                page.screenshot(path=f"{SCREENSHOTS}/{name}-{width}.png", full_page=True)

    # Add a Slack destination through the form (CSRF on), then send a test post.
    page.goto("/admin/chat/new")
    page.get_by_label("Name").fill("Slack #kudos")
    page.get_by_label("Slack").check()
    page.get_by_label("Webhook URL").fill(chat_server.url_for(f"/services/T/B/{SECRET}"))
    page.get_by_label("Shout-outs: each colleague featured in a story").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Add the destination").click()
    assert "“Slack #kudos” is connected" in page.content()
    with page.expect_navigation():
        page.get_by_role("button", name="Send a test post").click()
    assert "Test post delivered to “Slack #kudos” (200)" in page.content()
    assert SECRET not in page.content()
    page.goto("/admin/chat/")
    assert SECRET not in page.content() and f"…{SECRET[-4:]}" in page.content()
    db.session.commit()
    added = db.session.scalar(db.select(ChatDestination).where(
        ChatDestination.name == "Slack #kudos"))
    assert added.on_edition_sent and added.on_colleague_featured and not added.on_story_published
    assert len(chat_server.log) == 1
