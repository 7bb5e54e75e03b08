"""Shared fixtures, split by topic into tests/fixtures/ and loaded here for every test:

- database.py — the migrated test database (SQLite temp file, or a throwaway PostgreSQL database
  when TEST_DATABASE_URL is set), one per session / xdist worker, emptied after each test;
- app.py — `app` (one app per session, reset for each test; `@pytest.mark.app_config(...)` or
  `@pytest.mark.own_app` give a test an app of its own), `app_overrides`;
- users.py — `client`, the factories (`make_user`, ...), `employee`/`editor`/`admin` and their
  signed-in clients, `login_as`, `login(client, user)`;
- mail.py — `outbox` (memory backend); smtp.py — `smtp_server` (a real aiosmtpd);
- browser.py — `live_server`, `browser`, `page` (Playwright), `sign_in(page, user)`;
- voice.py — `survey` (a customer-voice source) and `add(source, comment(...))` (verbatims
  through the real intake).

Speed: `pytest -m "not slow"` leaves out browser tests, tests that start processes or servers,
and the large corpus tests; `make test` (and CI) run everything, in parallel (pytest-xdist).
"""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.app",
    "tests.fixtures.users",
    "tests.fixtures.mail",
    "tests.fixtures.smtp",
    "tests.fixtures.browser",
    "tests.fixtures.oidc",
    "tests.fixtures.voice",
    "tests.fixtures.chat",
    "tests.fixtures.api",
    "tests.fixtures.webhooks",
    "tests.fixtures.ops",
    "tests.fixtures.metrics",
    "tests.fixtures.backup",
    "tests.fixtures.privacy",
    "tests.fixtures.pacing",
    "tests.fixtures.scaleout",
]



def __getattr__(name: str):
    """`from tests.conftest import login` keeps working (imported late: the fixture modules
    must be first imported by pytest_plugins, so that pytest rewrites their asserts)."""
    if name == "login":
        from tests.fixtures.users import login

        return login
    raise AttributeError(name)

SLOW_FIXTURES = frozenset({"live_server", "page", "browser"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests and tests that serve the app to a real client are `slow` by definition."""
    for item in items:
        if item.get_closest_marker("slow"):
            continue
        if item.get_closest_marker("browser") or SLOW_FIXTURES & set(
            getattr(item, "fixturenames", ())
        ):
            item.add_marker(pytest.mark.slow)
