"""Every route is guarded, and each role gets exactly the access its marker promises.

The routes come from `app.url_map`, so a route added later is covered without editing this file.
"""

from __future__ import annotations

import pytest
from werkzeug.routing import Rule

from app.api.auth import ACCESS as API_TOKEN
from app.metrics.access import ACCESS as METRICS
from app.models import Role
from app.scim.auth import ACCESS as SCIM_TOKEN
from app.voice.hooks import ACCESS as SIGNED_WEBHOOK
from tests.fixtures.users import login

DUMMY_VALUES = {
    "integer": 999999, "int": 999999, "boundedint": 999999,  # app.web.converters
    "default": "x", "string": "x", "path": "x",
}


def _guarded_rules(app) -> list[Rule]:
    return [r for r in app.url_map.iter_rules() if r.endpoint != "static"]


def _url(app, rule: Rule) -> str:
    values = {}
    for name in rule.arguments:
        converter = rule._converters[name].__class__.__name__.lower().replace("converter", "")
        values[name] = DUMMY_VALUES.get(converter, "x")
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def test_every_route_declares_its_access(app):
    unguarded = [
        r.endpoint
        for r in _guarded_rules(app)
        if getattr(app.view_functions[r.endpoint], "_access", None) is None
    ]
    assert unguarded == [], f"routes without @public or @role_required: {unguarded}"


def test_route_table_is_not_trivially_small(app):
    # Guards the enumeration: if the url_map walk broke, the matrix below would pass vacuously.
    assert len(_guarded_rules(app)) >= 10


@pytest.mark.parametrize("role", [None, Role.EMPLOYEE, Role.EDITOR, Role.ADMIN], ids=str)
def test_roles_against_every_route(app, make_user, role):
    client = app.test_client()
    user = None
    if role is not None:
        from app.extensions import db

        user = make_user(role)
        db.session.commit()
    failures = []
    for rule in _guarded_rules(app):
        access = app.view_functions[rule.endpoint]._access
        url = _url(app, rule)
        if access == SCIM_TOKEN:  # bearer token only: a signed-in session opens nothing
            for method in sorted(rule.methods & {"GET", "POST"}):
                if client.open(url, method=method).status_code != 401:
                    failures.append(f"{method} {url}: SCIM route without a token, not 401")
            continue
        if access == API_TOKEN:  # bearer token only: a signed-in session opens nothing
            for method in sorted(rule.methods & {"GET", "POST", "PATCH", "PUT", "DELETE"}):
                if user is not None:
                    login(client, user)
                response = client.open(url, method=method)
                if response.status_code != 401 or response.mimetype != "application/problem+json":
                    failures.append(f"{method} {url}: API route without a token, not a 401 "
                                    f"problem ({response.status_code})")
            continue
        if access == METRICS:  # an allowed address or a token: a signed-in session opens nothing
            for method in sorted(rule.methods & {"GET", "POST"}):
                if user is not None:
                    login(client, user)
                local = client.open(url, method=method).status_code
                remote = client.open(url, method=method,
                                     environ_base={"REMOTE_ADDR": "203.0.113.7"}).status_code
                if (local, remote) != (200, 403):
                    failures.append(f"{method} {url}: metrics answered {local} from loopback "
                                    f"and {remote} from elsewhere, not 200 and 403")
            continue
        if access == SIGNED_WEBHOOK:  # a signature only: a signed-in session opens nothing
            for method in sorted(rule.methods & {"GET", "POST"}):
                if user is not None:
                    login(client, user)
                if client.open(url, method=method).status_code != 401:
                    failures.append(f"{method} {url}: signed webhook without a signature, not 401")
            continue
        for method in sorted(rule.methods & {"GET", "POST"}):
            if user is not None:
                login(client, user)  # again each time: a route such as logout ends the session
            response = client.open(url, method=method)
            status = response.status_code
            location = response.headers.get("Location", "")
            to_login = status in (301, 302, 303) and "/login" in location
            if status >= 500:
                failures.append(f"{method} {url}: {status}")
            elif access == "public":
                if to_login or status == 403:
                    failures.append(f"{method} {url}: public route answered {status}")
            elif role is None:
                if not to_login:
                    failures.append(f"{method} {url}: anonymous got {status}, not a login redirect")
            elif role in access:
                if status == 403 or (to_login and rule.endpoint != "auth.logout"):
                    failures.append(f"{method} {url}: {role} allowed but got {status}")
            elif status != 403:
                failures.append(f"{method} {url}: {role} not allowed but got {status}")
    assert failures == []


def test_every_scim_route_answers_401_without_a_token(app):
    """SCIM routes (@scim_token_required) take a bearer token and nothing else, for every method."""
    client = app.test_client()
    rules = [r for r in _guarded_rules(app)
             if getattr(app.view_functions[r.endpoint], "_access", None) == SCIM_TOKEN]
    assert len(rules) >= 10  # Users, Groups, their items and searches, discovery, the rest
    failures = []
    for rule in rules:
        url = _url(app, rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for headers in ({}, {"Authorization": "Bearer fgf_scim_not-a-token"}):
                response = client.open(url, method=method, headers=headers)
                if response.status_code != 401 or response.mimetype != "application/scim+json":
                    failures.append(f"{method} {url} {headers}: {response.status_code}")
    assert failures == []


def test_every_signed_webhook_answers_401_without_a_valid_signature(app):
    """Signed webhooks (app/voice/hooks.py) take a signature and nothing else: unsigned or
    wrongly signed, they answer 401 with a problem document, whatever the body."""
    client = app.test_client()
    rules = [r for r in _guarded_rules(app)
             if getattr(app.view_functions[r.endpoint], "_access", None) == SIGNED_WEBHOOK]
    assert len(rules) >= 1  # /hooks/voice/<slug>
    forged = {"X-Voice-Timestamp": "1", "X-Voice-Signature": "v1=" + "0" * 64}
    failures = []
    for rule in rules:
        url = _url(app, rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for headers in ({}, forged):
                response = client.open(url, method=method, headers=headers, json={"x": 1})
                if response.status_code != 401 or response.mimetype != "application/problem+json":
                    failures.append(f"{method} {url} {headers}: {response.status_code}")
    assert failures == []
