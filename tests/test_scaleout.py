"""Rate limits shared by several app instances through Redis (issue 17's scale-out rehearsal).

Two real gunicorn instances (the repository's gunicorn.conf.py, the production configuration,
one database) on two ports, like two hosts behind a load balancer. One browser's failed sign-ins
alternate between them: with RATELIMIT_STORAGE_URI=redis://... the instances count together and
the (limit+1)-th attempt is refused on either; with memory:// (the control) each counts alone,
so twice as many get through. Redis down: signing in still works, each process counting alone.
Behind the TLS proxy (PROXY_COUNT=1) each visitor's address counts, not the proxy's; without a
trusted proxy a forged X-Forwarded-For changes nothing.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlencode

import pytest

from tests.factories import DEFAULT_PASSWORD
from tests.fixtures.scaleout import Instance
from tests.fixtures.scaleout import free_port
from tests.fixtures.scaleout import ratelimit_keys

slow = pytest.mark.slow  # real gunicorn processes
LIMIT = 4
RULE = f"{LIMIT} per minute"
WRONG = "not the password"  # noqa: S105
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Browser:
    """One person's browser, its requests spread over several instances (one session cookie:
    the instances share SECRET_KEY, so the CSRF token of one is good on the other)."""

    def __init__(self, first: Instance) -> None:
        status, headers, page = first.request("GET", "/login")
        assert status == 200, page[-2000:]
        self.cookie = headers["set-cookie"].split(";", 1)[0]
        self.token = _CSRF.search(page).group(1)

    def sign_in(self, instance: Instance, email: str, password: str) -> tuple[int, str]:
        body = urlencode({"csrf_token": self.token, "email": email, "password": password})
        status, headers, page = instance.request(
            "POST", "/login", body=body.encode(),
            headers={"Cookie": self.cookie, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert status < 500, (status, instance.output())
        return status, headers.get("location", "") if status == 302 else page


def _failed_attempts(browser: Browser, instances: list[Instance], email: str,
                     count: int) -> list[tuple[int, int]]:
    """`count` wrong passwords, alternating instances: [(instance index, status), ...]."""
    seen = []
    for n in range(count):
        status, page = browser.sign_in(instances[n % 2], email, WRONG)
        if status == 200:
            assert "Too many" not in page
        seen.append((n % 2, status))
    return seen


@slow
def test_sign_in_limit_is_shared_through_redis(app, employee, serve_app, redis_url,
                                               ratelimit_prefix):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    shared = {"RATELIMIT_STORAGE_URI": redis_url, "RATELIMIT_KEY_PREFIX": ratelimit_prefix,
              "LOGIN_RATE_LIMIT": RULE}
    with serve_app(url, workers=2, **shared) as a, serve_app(url, workers=2, **shared) as b:
        browser = Browser(a)
        seen = _failed_attempts(browser, [a, b], employee.email, LIMIT + 2)

        # Both instances (and their two workers each) count one budget: the 5th attempt, the
        # first instance's 3rd, is refused, and so is the next one on the other instance.
        assert seen == [(0, 200), (1, 200), (0, 200), (1, 200), (0, 429), (1, 429)]
        for instance in (a, b):  # even the right password waits now, on either instance
            assert browser.sign_in(instance, employee.email, DEFAULT_PASSWORD)[0] == 429
        assert a.request("GET", "/login")[0] == 200  # only POSTs are limited

        keys = ratelimit_keys(redis_url, ratelimit_prefix)
        assert len(keys) == 1 and keys[0].endswith(f"/auth.login/{LIMIT}/1/minute"), keys


@slow
def test_memory_storage_counts_per_instance(app, employee, serve_app):
    """The control: the same attempts against instances that keep counters in memory (one
    worker each, so each instance is one counter) get twice as far."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    alone = {"RATELIMIT_STORAGE_URI": "memory://", "LOGIN_RATE_LIMIT": RULE}
    with serve_app(url, workers=1, **alone) as a, serve_app(url, workers=1, **alone) as b:
        browser = Browser(a)
        seen = _failed_attempts(browser, [a, b], employee.email, 2 * LIMIT + 2)

    assert [status for _, status in seen] == [200] * (2 * LIMIT) + [429, 429]


@slow
def test_sign_in_keeps_working_when_redis_is_down(app, employee, serve_app):
    """Nothing listens where Redis should be: each process falls back to counting in memory
    (RATELIMIT_IN_MEMORY_FALLBACK_ENABLED), so people still sign in and guessing is still
    limited; no request fails on the limiter."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    down = {"RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{free_port()}/0",
            "RATELIMIT_KEY_PREFIX": f"fgf-test-{uuid.uuid4().hex[:12]}", "LOGIN_RATE_LIMIT": RULE}
    with serve_app(url, workers=1, **down) as instance:
        browser = Browser(instance)
        status, location = browser.sign_in(instance, employee.email, DEFAULT_PASSWORD)
        assert (status, location) == (302, "/")

        other = Browser(instance)  # someone guessing: limited by the in-memory counter
        seen = [other.sign_in(instance, employee.email, WRONG)[0] for _ in range(LIMIT + 1)]
        assert seen == [200] * (LIMIT - 1) + [429, 429]  # the good sign-in counted too
        assert instance.request("GET", "/healthz")[0] == 200


def _attempt(client, email: str, address: str) -> int:
    response = client.post("/login", data={"email": email, "password": WRONG},
                           headers={"X-Forwarded-For": address})
    return response.status_code


@pytest.mark.app_config(PROXY_COUNT=1, LOGIN_RATE_LIMIT=RULE)
def test_behind_the_proxy_each_visitor_has_a_limit_of_their_own(app, employee):
    """Every request reaches gunicorn from the proxy's address; the proxy's X-Forwarded-For
    tells visitors apart, so one person's guessing does not lock out the company."""
    client = app.test_client()
    guesser = [_attempt(client, employee.email, "198.51.100.7") for _ in range(LIMIT + 1)]
    assert guesser == [200] * LIMIT + [429]
    assert _attempt(client, employee.email, "203.0.113.9") == 200  # a colleague, same proxy
    assert _attempt(client, employee.email, "198.51.100.7") == 429


@pytest.mark.app_config(LOGIN_RATE_LIMIT=RULE)
def test_without_a_trusted_proxy_a_forged_address_changes_nothing(app, employee):
    """PROXY_COUNT=0 (the default): X-Forwarded-For is the client's own say-so and ignored."""
    client = app.test_client()
    statuses = [_attempt(client, employee.email, f"198.51.100.{n}") for n in range(LIMIT + 1)]
    assert statuses == [200] * LIMIT + [429]
