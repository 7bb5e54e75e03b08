"""Browser test fixtures, reusable by every feature: a live server and Playwright pages.

- `live_server`: the test app (same database as the `app` fixture, so factories and
  `db.session.commit()` in the test are visible to the browser) served by werkzeug's
  `make_server` in a thread on a free port; yields the base URL.
- `browser` (session): Debian's Chromium driven by Playwright's sync API via `executable_path`.
- `page`: a fresh context and page with `base_url` set (so `page.goto("/login")` works); it
  fails the test on any uncaught JavaScript error or console error (CSP violations included).
- `sign_in(page, user)`: through the real login form.

Without Playwright or Chromium the tests are skipped with the reason; with REQUIRE_BROWSER=1
(set in CI) they fail instead, so a broken CI image cannot pass silently. Mark browser tests
with `@pytest.mark.browser` (`pytest -m "not browser"` leaves them out).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.factories import DEFAULT_PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000


def _unavailable(reason: str) -> None:
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests required (REQUIRE_BROWSER=1) but {reason}", pytrace=False)
    pytest.skip(reason)


_RUNNING: list = []  # the one Playwright driver of this test session


@pytest.fixture(scope="session")
def playwright_instance():
    """One driver per session, even when another module imports this fixture (pytest then
    registers a second copy, and Playwright's sync API cannot run two at once)."""
    if _RUNNING:
        yield _RUNNING[0]
        return
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).is_file() or not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)")
    with sync_playwright() as playwright:
        _RUNNING.append(playwright)
        try:
            yield playwright
        finally:
            _RUNNING.clear()


@pytest.fixture(scope="session")
def browser(playwright_instance):
    try:
        browser = playwright_instance.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
    except Exception as error:  # a Chromium that cannot start is "unavailable", clearly said
        _unavailable(f"Chromium at {CHROMIUM} failed to start: {error}")
    yield browser
    browser.close()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """Serve `app` on 127.0.0.1:<free port> for the duration of one test."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: problems.append(f"console {message.type}: {message.text}")
        if message.type == "error"
        else None,
    )
    yield page
    context.close()
    assert problems == [], problems


def sign_in(page, user, password: str = DEFAULT_PASSWORD, next_path: str | None = None) -> None:
    """Sign in through the login form and wait for the landing (or `next_path`) page."""
    page.goto("/login" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("Work email").fill(user.email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "/login" not in page.url, "sign-in failed"
