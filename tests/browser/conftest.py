"""The browser fixtures (`live_server`, `browser`, `page`) live in tests/fixtures/browser.py and
are available everywhere; the helpers stay importable from here."""

from tests.fixtures.browser import CHROMIUM
from tests.fixtures.browser import CHROMIUM_ARGS
from tests.fixtures.browser import TIMEOUT_MS
from tests.fixtures.browser import _unavailable
from tests.fixtures.browser import sign_in

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "TIMEOUT_MS", "_unavailable", "sign_in"]
