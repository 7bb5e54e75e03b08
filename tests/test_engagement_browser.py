"""Readership pages in a real Chromium (CSRF on, CSP enforced): applauding from an email link on
a phone, and the admin's readership settings with the switch back to aggregate-only; no script
or CSP errors, and axe-core finds no serious or critical accessibility problem."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.engagement.recipients import RecipientKeys
from app.extensions import db
from app.models import EditionStatus
from app.models import Reaction
from app.models import Role
from app.models import SubmissionStatus
from app.models.engagement import EngagementEvent
from app.settings import get_settings
from app.settings import set_settings
from tests import factories
from tests.browser.conftest import _unavailable
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import AXE_PATH
from tests.browser.test_accessibility import BLOCKING
from tests.helpers_sender import seed_edition
from tests.helpers_sender import story_of

pytestmark = [pytest.mark.browser, pytest.mark.app_config(WTF_CSRF_ENABLED=True)]
AXE_RUN = """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
    .map(v => `${v.impact}: ${v.id} at ${v.nodes.slice(0, 3).map(n => n.target)}`)"""


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE_PATH.is_file():
        _unavailable(f"axe-core not found at {AXE_PATH} (run `make axe`, or set AXE_CORE_PATH)")
    return AXE_PATH.read_text(encoding="utf-8")


def _blocking(page) -> list[str]:
    return [v for v in page.evaluate(AXE_RUN) if v.split(":")[0] in BLOCKING]


def test_applauding_from_the_email_on_a_phone(open_page, axe_source, app):
    edition = seed_edition(status=EditionStatus.SENT)
    story = story_of(edition)
    story.status = SubmissionStatus.PUBLISHED
    reader = factories.make_user(display_name="Rita Reader", email="rita@example.com")
    db.session.commit()
    token = RecipientKeys(edition.id).applause(reader.id)

    page = open_page(390, 844, axe=axe_source)
    response = page.goto(f"/a/{story.id}/{token}")
    assert response is not None and response.status == 200
    assert page.get_by_role("heading", name=f"Applaud “{story.title}”?").is_visible()
    assert _blocking(page) == []
    # Nothing fits wider than the phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    db.session.commit()  # a fresh snapshot: the browser's requests write on other connections
    assert db.session.scalar(sa.select(sa.func.count(Reaction.id))) == 0

    page.get_by_role("button", name="Applaud").click()
    page.get_by_role("heading", name="Thank you!").wait_for()
    assert _blocking(page) == []
    db.session.commit()
    assert db.session.scalars(sa.select(Reaction.user_id)).all() == [reader.id]
    page.get_by_role("link", name="Read the story and its comments").click()
    page.wait_for_url(lambda url: "/login?next=" in url)  # the story asks to sign in first
    assert f"stories/{story.id}" in page.url.replace("%2F", "/")


def test_switching_back_to_aggregate_only_in_the_browser(open_page, axe_source, app):
    admin = factories.make_user(Role.ADMIN)
    set_settings({"analytics_mode": "person"}, actor=None)
    edition = factories.make_edition(status=EditionStatus.SENT)
    db.session.add(EngagementEvent(edition_id=edition.id, kind="open", tag="d1",
                                   user_id=admin.id))
    db.session.commit()

    page = open_page(1280, 900, axe=axe_source)
    sign_in(page, admin)
    page.goto("/admin/settings/readership")
    assert _blocking(page) == []
    page.get_by_label("Aggregate only").check()
    page.get_by_role("button", name="Save readership settings").click()
    page.get_by_text("anonymizes the per-person reading data of 1 message at once").wait_for()
    assert _blocking(page) == []
    db.session.commit()
    assert get_settings("analytics_mode")["analytics_mode"] == "person"
    page.get_by_role("button", name="Switch to aggregate only and anonymize").click()
    page.get_by_text("Per-person reading data of 1 message anonymized").wait_for()
    db.session.commit()
    assert get_settings("analytics_mode")["analytics_mode"] == "aggregate"
    assert db.session.scalar(sa.select(EngagementEvent.user_id)) is None
