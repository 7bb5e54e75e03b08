"""SCIM conformance: scim2-tester's whole check suite against the app served on loopback.

The app runs in the `live_server` fixture (werkzeug on a free port, tests/fixtures/browser.py)
and scim2-tester talks to it over real HTTP through a scim2-client engine built on `requests`
(the client ships engines for httpx2 and in-process WSGI only). Every check it runs must pass.

One adaptation, and only one: the app's `userName` is the person's email address (the
newsletter's address, refused with 400 invalidValue otherwise), while scim2-tester fills string
attributes with bare UUIDs. The test has it write `<uuid>@example.com` into `userName` instead;
everything else is the tester's own random data and its own expectations.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from scim2_client import BaseSyncSCIMClient
from scim2_client.errors import RequestNetworkException

from app.extensions import db
from app.scim import services

PASSING = {"SUCCESS", "COMPLIANT", "ACCEPTABLE"}


class RequestsSCIMClient(BaseSyncSCIMClient):
    """A scim2-client engine over `requests`: real HTTP to `base_url` with a bearer token."""

    def __init__(self, base_url: str, token: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def _url(self, endpoint: str) -> str:
        if urlsplit(endpoint).scheme:
            return endpoint
        return self.base_url + "/" + endpoint.lstrip("/")

    def _stays_under_base_url(self, endpoint: str) -> bool:
        return self._url(endpoint).startswith(self.base_url + "/") and ".." not in endpoint

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        if "content" in kwargs:
            kwargs["data"] = kwargs.pop("content")
        try:
            return self.session.request(method, self._url(url), timeout=30, **kwargs)
        except requests.RequestException as error:
            raise RequestNetworkException() from error


@pytest.fixture
def email_user_names(monkeypatch):
    """userName values that are email addresses (see the module docstring)."""
    from scim2_tester import filling

    original = filling.get_random_example_value

    def example(path):
        if str(path).split(":")[-1].lower() == "username":
            return f"{uuid.uuid4()}@example.com"
        return original(path)

    monkeypatch.setattr(filling, "get_random_example_value", example)


@pytest.mark.slow
def test_scim2_tester_passes_every_check(app, admin, live_server, email_user_names):
    from scim2_tester import check_server

    _token, secret = services.create_token("scim2-tester", actor=admin)
    db.session.commit()
    client = RequestsSCIMClient(f"{live_server}/scim/v2", secret)
    client.discover()

    results = check_server(client)

    tally = Counter(r.status.name for r in results)
    print(f"\nscim2-tester: {len(results)} checks: {dict(tally)}")
    failures = [r for r in results if r.status.name not in PASSING]
    assert failures == [], "\n".join(
        f"{r.resource_type or ''} {r.title}: {r.status.name}: {r.reason}" for r in failures
    )
    skipped = [f"{r.title}: {r.reason}" for r in results if r.status.name == "SKIPPED"]
    assert skipped == []  # nothing left out: PATCH, /.search, attributes... all ran
    assert tally["SUCCESS"] >= 59
