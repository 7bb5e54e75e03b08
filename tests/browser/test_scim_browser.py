"""In a real browser, on a phone-width screen: an admin creates a SCIM token, copies it with the
button (shown once), and revokes it after a confirmation; no CSP or script errors, no axe
violations."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AccessToken
from app.models import Role
from app.scim import services
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import _violations
from tests.browser.test_accessibility import axe_source  # noqa: F401 - a fixture

pytestmark = [pytest.mark.browser, pytest.mark.app_config(WTF_CSRF_ENABLED=True)]


def test_admin_creates_copies_and_revokes_a_token(browser, live_server, make_user, axe_source):  # noqa: F811
    admin = make_user(Role.ADMIN, email="ada@example.com")
    db.session.commit()
    context = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    context.add_init_script(script=axe_source)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    try:
        sign_in(page, admin)
        page.goto("/admin/scim/")
        assert page.get_by_role("heading", name="Provisioning (SCIM)").is_visible()
        assert _violations(page) == []
        page.get_by_label("Name").fill("Entra production")
        page.get_by_role("button", name="Create token").click()
        page.get_by_role("heading", name=re.compile("Entra production")).wait_for()

        secret = page.locator("#scim-token").inner_text().strip()
        assert secret.startswith("fgf_scim_")
        db.session.rollback()
        row = db.session.scalar(sa.select(AccessToken))
        assert row.token_hash == services.hash_token(secret)

        copy = page.get_by_role("button", name="Copy the token")
        # Hidden in the HTML, shown by the deferred script where the Clipboard API exists: wait
        # for it (checking at once raced the script on a busy machine).
        copy.wait_for(state="visible")
        copy.click()
        page.get_by_text("Copied to the clipboard.").wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == secret
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways at 390 px ({width} px)"
        assert _violations(page) == []

        page.get_by_role("link", name="Done").click()
        assert secret not in page.content()
        page.get_by_role("link", name="Revoke Entra production").click()
        page.get_by_role("button", name="Revoke the token").click()
        page.get_by_text("is revoked").wait_for()
        assert page.get_by_text(re.compile("^Revoked")).is_visible()
    finally:
        context.close()
    assert problems == []
