"""Behind a reverse proxy (PROXY_COUNT): each visitor is counted by its own address.

Without it every request seems to come from the proxy, and the sign-in limit, per address,
would count the whole company as one visitor.
"""

from __future__ import annotations

import pytest

LIMIT = 3


def _failed_sign_ins(client, forwarded_for: str, times: int) -> list[int]:
    return [
        client.post("/login", data={"email": "nobody@example.com", "password": "wrong"},
                    headers={"X-Forwarded-For": forwarded_for},
                    environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code
        for _ in range(times)
    ]


@pytest.mark.app_config(PROXY_COUNT=1, LOGIN_RATE_LIMIT=f"{LIMIT} per minute")
def test_behind_one_proxy_each_visitor_has_its_own_sign_in_budget(app):
    client = app.test_client()
    first = _failed_sign_ins(client, "203.0.113.7", LIMIT + 1)
    other = _failed_sign_ins(client, "203.0.113.8", LIMIT)
    assert first[-1] == 429 and 429 not in first[:-1]
    assert 429 not in other  # a second visitor behind the same proxy is not locked out


@pytest.mark.app_config(PROXY_COUNT=1, LOGIN_RATE_LIMIT=f"{LIMIT} per minute")
def test_only_the_last_hop_is_trusted(app):
    """A visitor cannot pick a fresh budget by sending its own X-Forwarded-For: with one proxy
    only the address the proxy appended counts."""
    client = app.test_client()
    codes = [
        client.post("/login", data={"email": "nobody@example.com", "password": "wrong"},
                    headers={"X-Forwarded-For": f"10.0.0.{n}, 203.0.113.9"}).status_code
        for n in range(LIMIT + 1)
    ]
    assert codes[-1] == 429


@pytest.mark.app_config(PROXY_COUNT=0, LOGIN_RATE_LIMIT=f"{LIMIT} per minute")
def test_without_proxy_count_forwarded_headers_are_ignored(app):
    client = app.test_client()
    first = _failed_sign_ins(client, "203.0.113.7", LIMIT)
    other = _failed_sign_ins(client, "203.0.113.8", 1)
    assert 429 not in first
    assert other == [429]  # the header changed nothing: one address, one budget


@pytest.mark.app_config(PROXY_COUNT=1)
def test_a_forwarded_host_is_not_trusted(app):
    """The proxy sets Host; a client's X-Forwarded-Host passed on must not become the host the
    app builds its own addresses from (while the proxy's X-Forwarded-Proto is trusted)."""
    from flask import request

    from app.auth.access import public

    seen = {}

    @app.get("/__host")
    @public
    def _host():
        seen.update(host=request.host, scheme=request.scheme)
        return ""

    app.test_client().get("/__host", headers={"Host": "fgf.example.com",
                                              "X-Forwarded-Host": "evil.example",
                                              "X-Forwarded-Proto": "https"})
    assert seen == {"host": "fgf.example.com", "scheme": "https"}
