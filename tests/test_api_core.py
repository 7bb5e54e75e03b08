"""The API's core, end to end: the bearer guard (401/403, revoked, expired, deactivated, demoted),
cookie and token kept apart (the API never takes the session, the web never takes a token), CSRF,
RFC 9457 problems for every error, per-token rate limits and their headers, signed cursors,
ETags, caching headers, and the OpenAPI document against the routes it describes.

The route walks read `app.url_map` and `app.api.spec.OPERATIONS`, so an operation added later is
covered without editing this file.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from itsdangerous import URLSafeSerializer
from pydantic import BaseModel
from pydantic import Field
from werkzeug.routing import Rule

from app.api.openapi import document
from app.api.problems import ApiProblem
from app.api.routing import parse_body
from app.api.spec import OPERATIONS
from app.extensions import db
from app.models import AccessToken
from app.models import Role
from app.models import Tag
from app.models import Team
from app.models.base import utcnow
from app.tokens.scopes import CURATE
from app.tokens.scopes import SCOPES
from tests.factories import make_tag
from tests.fixtures.users import login
from tests.querycount import count_queries

PROBLEM = "application/problem+json"
ALL = " ".join(SCOPES)
PREFIX = "/api/v1"
PUBLIC_API = {"api.openapi_json"}  # the document describes the API; it needs no token


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def _api_rules(app) -> list[Rule]:
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith(PREFIX + "/")]
    assert len(rules) >= 5  # the walk found the API (else the loops below pass vacuously)
    return rules


def _methods(rule: Rule) -> list[str]:
    return sorted(set(rule.methods or ()) - {"HEAD", "OPTIONS"})


_ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _url(rule: Rule) -> str:
    """The rule with a plausible value for each argument (1 for an integer, "x" otherwise)."""
    return _ARGUMENT.sub(lambda m: "1" if (m.group(1) or "").endswith("int") else "x", rule.rule)


def _openapi_path(rule: Rule) -> str:
    return _ARGUMENT.sub(lambda m: "{" + m.group(2) + "}", rule.rule.removeprefix(PREFIX))


# 401 / 403 --------------------------------------------------------------------------------------
def test_no_token_is_401_with_a_bearer_challenge(client):
    response = client.get("/api/v1/me")
    body = _problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="Feel Good Fridays API"'
    assert "Bearer" in body["detail"]


@pytest.mark.parametrize("header", [
    "Bearer fgf_nobody_knows_this", "Bearer ", "Basic dXNlcjpwYXNz", "bearer", "Token abc",
    "Bearer " + "x" * 201, "Bearer \x00\x01", "Bearer fgf_a fgf_b",
], ids=["unknown", "empty", "basic", "no-credentials", "other-scheme", "too-long", "control",
        "two-words"])
def test_a_bad_token_is_401(client, header):
    response = client.get("/api/v1/me", headers={"Authorization": header})
    _problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="Feel Good Fridays API"')


def test_a_revoked_token_is_401(client, employee, api_token):
    secret = api_token(employee, "read")
    sent = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=sent).status_code == 200
    token = db.session.scalar(db.select(AccessToken).where(AccessToken.user_id == employee.id))
    token.revoked_at = utcnow()
    db.session.commit()
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    _problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_an_expired_token_is_401_and_one_expiring_later_works(client, employee, api_token):
    expired = api_token(employee, "read", expires_at=utcnow() - timedelta(seconds=1))
    later = api_token(employee, "read", expires_at=utcnow() + timedelta(days=1))
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})
    _problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {later}"}).status_code == 200


def test_a_deactivated_persons_token_is_401(api_as, employee):
    api = api_as(employee, "read")
    assert api.get("/api/v1/me").status_code == 200
    employee.is_active_user = False
    db.session.commit()
    _problem(api.get("/api/v1/me"), 401)


def test_a_token_without_the_scope_is_403(api_as, employee):
    api = api_as(employee, "submit")
    response = api.get("/api/v1/me")
    body = _problem(response, 403)
    assert "'read'" in body["detail"]
    assert body["type"].endswith("/insufficient-scope")
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="Feel Good Fridays API", error="insufficient_scope", scope="read"')


def test_a_scope_the_persons_role_does_not_allow_is_403(api_as, employee):
    # An employee's token stored with `curate` (e.g. made while they were an editor) cannot
    # curate: the role decides now, not when the token was made.
    api = api_as(employee, "read curate")
    assert api.get("/api/v1/me").get_json()["token"]["scopes"] == ["read"]


def _curate_operations():
    return [op for op in OPERATIONS if op.scope == CURATE]


def test_a_demoted_editors_token_loses_curate(app, api_as, editor):
    api = api_as(editor, "read curate")
    assert api.get("/api/v1/me").get_json()["token"]["scopes"] == ["read", "curate"]
    curate_rules = [
        rule for rule in _api_rules(app)
        if any(op.endpoint == rule.endpoint.removeprefix("api.") for op in _curate_operations())
    ]
    assert curate_rules  # the API has curate operations (insights, the review decisions)
    before = {}
    for rule in curate_rules:
        for method in _methods(rule):
            before[(method, rule.rule)] = api.open(method, _url(rule), json={}).status_code
    assert all(status != 403 for status in before.values()), before

    editor.role = Role.EMPLOYEE
    db.session.commit()
    assert api.get("/api/v1/me").get_json()["token"]["scopes"] == ["read"]
    for rule in curate_rules:
        for method in _methods(rule):
            response = api.open(method, _url(rule), json={})
            assert "curate" in _problem(response, 403)["detail"], (method, rule.rule)


# Cookie and token kept apart --------------------------------------------------------------------
def test_the_api_never_accepts_the_session_cookie(app, admin):
    browser = login(app.test_client(), admin)
    assert browser.get("/").status_code == 200  # the cookie does sign in on the web
    checked = 0
    for rule in _api_rules(app):
        for method in _methods(rule):
            response = browser.open(_url(rule), method=method, json={})
            if rule.endpoint in PUBLIC_API:
                assert response.status_code == 200
                continue
            _problem(response, 401)
            assert "Set-Cookie" not in response.headers
            assert "Cookie" not in response.headers.get("Vary", "")
            checked += 1
    assert checked == sum(len(_methods(r)) for r in _api_rules(app)) - len(PUBLIC_API)
    for url in ["/api/v1/nothing", "/api/v1/openapi.json"]:  # outside the operations too
        response = browser.get(url)
        assert "Set-Cookie" not in response.headers
        assert "Cookie" not in response.headers.get("Vary", "")
    # The API neither read nor changed the browser's session: it is still signed in.
    assert browser.get("/").status_code == 200
    assert b"Ada Admin" in browser.get("/").data


def test_the_web_never_accepts_a_token(app, admin, api_token):
    secret = api_token(admin, ALL)
    pages = [
        rule for rule in app.url_map.iter_rules()
        if not rule.rule.startswith("/api/") and "GET" in (rule.methods or ())
        and not rule.arguments
        and isinstance(getattr(app.view_functions[rule.endpoint], "_access", None), frozenset)
    ]
    assert len(pages) >= 10
    client = app.test_client()
    for rule in pages:
        response = client.get(rule.rule, headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code == 302, rule.rule
        assert "/login" in response.headers["Location"], rule.rule


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_the_api_needs_no_csrf_token(app, admin, api_as):
    api = api_as(admin, ALL)
    # The web refuses a form post without the CSRF token ...
    web = login(app.test_client(), admin)
    assert web.post("/logout").status_code == 400
    # ... the API is never reached by a cookie, so it does not ask for one: every operation
    # that changes something gets past CSRF to its own answer (not the CSRF 400).
    posted = 0
    for rule in _api_rules(app):
        for method in _methods(rule):
            if method == "GET":
                continue
            response = api.open(method, _url(rule), json={})
            body = response.get_json(force=True, silent=True) or {}
            assert "expired" not in str(body.get("detail", "")), (method, rule.rule)
            posted += 1
    assert posted >= 2  # submitting and reviewing are POSTs
    # An unknown URL and a wrong method are answered as such, not as a CSRF failure.
    _problem(api.post("/api/v1/nothing-here", json={}), 404)
    _problem(api.post("/api/v1/me", json={}), 405)


# Problems ---------------------------------------------------------------------------------------
def test_unknown_api_urls_are_404_problems(client, admin, api_as):
    api = api_as(admin, ALL)
    for url in ["/api/v1/nothing", "/api/v1/", "/api/v2/me", "/api/v1/me/extra",
                "/api/v1/teams/" + "9" * 40]:
        _problem(client.get(url), 404)
        _problem(api.get(url), 404)


def test_a_wrong_method_is_a_405_problem_with_allow(api_as, admin):
    response = api_as(admin, ALL).delete("/api/v1/me")
    _problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_a_bad_query_parameter_is_a_422_problem_naming_it(api_as, admin):
    api = api_as(admin, ALL)
    for value in ["0", "201", "-1", "abc", "9" * 40, "1.5", ""]:
        body = _problem(api.get(f"/api/v1/teams?limit={value}"), 422)
        assert [e["parameter"] for e in body["errors"]] == ["limit"], value
    body = _problem(api.get("/api/v1/teams?cursor=" + "x" * 401), 422)
    assert [e["parameter"] for e in body["errors"]] == ["cursor"]


class _Sample(BaseModel):
    model_config = {"extra": "forbid"}
    title: str = Field(max_length=10)
    count: int = Field(ge=1, le=5)


@pytest.mark.parametrize(("content_type", "data", "status", "errors"), [
    ("text/plain", b'{"title": "a", "count": 1}', 415, None),
    ("application/x-www-form-urlencoded", b"title=a&count=1", 415, None),
    ("application/json", b'{"title": ', 400, None),
    ("application/json", b"\xff\xfe", 400, None),
    ("application/json", b"", 422, ["#/"]),
    ("application/json", b"[]", 422, ["#/"]),
    ("application/json", b'"text"', 422, ["#/"]),
    ("application/json", b'{"title": "a", "count": 1, "extra": 1}', 422, ["#/extra"]),
    ("application/json", b'{"title": "' + b"a" * 11 + b'", "count": 99999999999999999999}',
     422, ["#/title", "#/count"]),
    ("application/json", b'{"title": 5, "count": "many"}', 422, ["#/title", "#/count"]),
    # Valid JSON whose integer is longer than any field's: 422 pointing at it, not "not JSON".
    ("application/json", b'{"title": "a", "count": ' + b"9" * 5000 + b"}", 422, ["#/count"]),
    ("application/json", b'{"title": "a", "count": -' + b"9" * 21 + b"}", 422, ["#/count"]),
    ("application/json", b'{"title": "a", "count": [1, ' + b"9" * 5000 + b"]}", 422,
     ["#/count/1"]),
    # Deeper than DEPTH_MAX (64), at any depth a parser would reach or not: 422, never a 500.
    ("application/json", b'{"title": ' + b"[" * 64 + b"]" * 64 + b"}", 422, ["#/"]),
    ("application/json", b'{"title": ' + b"[" * 3000 + b"]" * 3000 + b"}", 422, ["#/"]),
    ("application/json", b"[" * 100_000 + b"]" * 100_000, 422, ["#/"]),
    # NaN and Infinity are not JSON.
    ("application/json", b'{"title": "a", "count": NaN}', 400, None),
    ("application/json", b'{"title": "a", "count": -Infinity}', 400, None),
])
def test_bodies_are_parsed_into_problems(app, content_type, data, status, errors):
    context = app.test_request_context("/api/v1/x", method="POST", data=data,
                                       content_type=content_type)
    with context, pytest.raises(ApiProblem) as raised:
        parse_body(_Sample)
    assert raised.value.status == status
    if errors is not None:
        assert [e["pointer"] for e in raised.value.errors] == errors
    with app.test_request_context("/api/v1/x", method="POST", json={"title": "a", "count": 5}):
        assert parse_body(_Sample) == _Sample(title="a", count=5)


def test_a_body_just_within_the_depth_limit_reaches_validation(app):
    nested = b'{"title": ' + b"[" * 63 + b"]" * 63 + b', "count": 1}'
    with app.test_request_context("/api/v1/x", method="POST", data=nested,
                                  content_type="application/json"), \
            pytest.raises(ApiProblem) as raised:
        parse_body(_Sample)
    assert raised.value.status == 422
    assert [e["pointer"] for e in raised.value.errors] == ["#/title"]  # a list, not a string


def test_deep_and_huge_bodies_are_problems_on_a_real_operation(api_as, employee):
    api = api_as(employee, "read submit")
    deep = b'{"title": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    body = _problem(api.post("/api/v1/stories", data=deep, content_type="application/json"),
                    422)
    assert body["errors"] == [{"detail": "Nested too deeply.", "pointer": "#/"}]
    huge = b'{"text": "Lovely service", "source": "email", "nps_score": ' + b"9" * 5000 + b"}"
    body = _problem(api.post("/api/v1/quotes", data=huge, content_type="application/json"), 422)
    assert body["errors"] == [{"detail": "The number is too large (more than 20 digits).",
                               "pointer": "#/nps_score"}]


def _body_operations():
    return [op for op in OPERATIONS if op.body is not None]


def test_every_operation_with_a_body_answers_bad_bodies_with_problems(app, admin, api_as):
    api = api_as(admin, ALL)
    rules = {rule.endpoint.removeprefix("api."): rule for rule in _api_rules(app)}
    assert _body_operations()
    for op in _body_operations():
        url = _url(rules[op.endpoint])
        _problem(api.open(op.method, url, data="{}", content_type="text/plain"), 415)
        _problem(api.open(op.method, url, data="{nope", content_type="application/json"), 400)
        _problem(api.open(op.method, url, json=[1, 2]), 422)
        body = _problem(api.open(op.method, url, json={"surely_not_a_field": 1}), 422)
        assert "#/surely_not_a_field" in [e.get("pointer") for e in body["errors"]]


# Rate limits ------------------------------------------------------------------------------------
@pytest.mark.app_config(API_RATE_LIMIT="3 per minute")
def test_rate_limit_per_token_with_ratelimit_headers(api_as, employee):
    first = api_as(employee, "read")
    second = api_as(employee, "read")
    for remaining in (2, 1, 0):
        response = first.get("/api/v1/me")
        assert response.status_code == 200
        assert response.headers["RateLimit-Limit"] == "3"
        assert response.headers["RateLimit-Remaining"] == str(remaining)
        assert response.headers["RateLimit-Policy"] == "3;w=60"
        assert 0 < int(response.headers["RateLimit-Reset"]) <= 60
        assert "Retry-After" not in response.headers
        assert not [k for k, _ in response.headers.items() if k.startswith("X-RateLimit")]
    response = first.get("/api/v1/me")
    body = _problem(response, 429)
    assert "Retry-After" in body["detail"]
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert response.headers["RateLimit-Remaining"] == "0"
    assert response.headers["RateLimit-Limit"] == "3"
    # Another token has its own budget.
    response = second.get("/api/v1/me")
    assert response.status_code == 200
    assert response.headers["RateLimit-Remaining"] == "2"
    _problem(first.get("/api/v1/teams"), 429)  # the budget is the token's, across operations


@pytest.mark.app_config(API_RATE_LIMIT="3 per minute")
def test_invented_tokens_share_the_addresss_budget(client):
    """Unknown tokens are counted per address: inventing one buys no fresh budget."""
    statuses = [client.get("/api/v1/me", headers={"Authorization": f"Bearer fgf_invented_{i}"})
                .status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]


@pytest.mark.app_config(API_RATE_LIMIT="3 per minute")
def test_a_real_token_keeps_its_budget_after_invented_ones(client, api_as, employee):
    for i in range(3):
        client.get("/api/v1/me", headers={"Authorization": f"Bearer fgf_invented_{i}"})
    response = api_as(employee, "read").get("/api/v1/me")
    assert response.status_code == 200
    assert response.headers["RateLimit-Remaining"] == "2"


def test_the_token_is_looked_up_once_per_request(api_as, employee):
    api = api_as(employee, "read")
    api.get("/api/v1/me")  # the first use records last_used_at (a write)
    with count_queries() as queries:
        assert api.get("/api/v1/me").status_code == 200
    lookups = [q for q in queries.statements
               if "FROM access_tokens" in q and "token_hash" in q]
    assert len(lookups) == 1, lookups


# Cursors ----------------------------------------------------------------------------------------
def test_keyset_pages_follow_their_cursor_and_refuse_others(app, api_as, admin, make_team):
    api = api_as(admin, ALL)
    for name in ["Delta", "alpha", "Charlie", "Bravo", "Echo"]:
        make_team(name)
    db.session.commit()
    seen = []
    url = "/api/v1/teams?limit=2"
    pages = 0
    while url:
        response = api.get(url)
        assert response.status_code == 200
        page = response.get_json()
        seen += [team["name"] for team in page["data"]]
        pages += 1
        if page["next_cursor"]:
            assert response.headers["Link"].endswith('>; rel="next"')
            url = "/api/v1/teams?limit=2&cursor=" + page["next_cursor"]
        else:
            assert "Link" not in response.headers
            url = None
    assert pages == 3
    teams = list(db.session.scalars(db.select(Team.name).order_by(Team.name, Team.id)))
    assert seen == teams and len(seen) == 5

    cursor = api.get("/api/v1/teams?limit=2").get_json()["next_cursor"]
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    forged = URLSafeSerializer("not-the-secret", salt="feelgood.api.cursor").dumps(
        ["teams", ["Alpha", 1]])
    wrong_width = URLSafeSerializer(app.config["SECRET_KEY"], salt="feelgood.api.cursor").dumps(
        ["teams", ["Alpha"]])
    for bad in [tampered, forged, wrong_width, "1", "null", "%00"]:
        body = _problem(api.get(f"/api/v1/teams?cursor={bad}"), 422)
        assert body["errors"] == [{"detail": "Not a valid cursor for this list.",
                                   "parameter": "cursor"}]
    # A cursor from another list is refused too.
    make_team("Foxtrot")
    for name in ["one", "two", "three"]:
        make_tag(name)
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count(Tag.id))) >= 3
    tags_cursor = api.get("/api/v1/tags?limit=1").get_json()["next_cursor"]
    assert tags_cursor
    _problem(api.get(f"/api/v1/teams?cursor={tags_cursor}"), 422)


# ETags and caching ------------------------------------------------------------------------------
def test_etag_and_if_none_match(api_as, employee):
    api = api_as(employee, "read")
    response = api.get("/api/v1/me")
    tag = response.headers["ETag"]
    assert tag.startswith('"') and tag.endswith('"')
    again = api.get("/api/v1/me", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == tag
    assert api.get("/api/v1/me", headers={"If-None-Match": f'"other", W/{tag}'}).status_code == 304
    assert api.get("/api/v1/me", headers={"If-None-Match": "*"}).status_code == 304
    different = api.get("/api/v1/me", headers={"If-None-Match": '"not-it"'})
    assert different.status_code == 200 and different.headers["ETag"] == tag
    employee.display_name = "Erin Renamed"
    db.session.commit()
    changed = api.get("/api/v1/me", headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != tag
    assert changed.get_json()["person"]["name"] == "Erin Renamed"


def test_answers_vary_on_authorization_and_are_private(client, api_as, employee):
    api = api_as(employee, "read")
    for response in [api.get("/api/v1/me"), api.get("/api/v1/teams"), client.get("/api/v1/me"),
                     api_as(employee, "submit").get("/api/v1/me"),
                     api.get("/api/v1/teams?limit=0")]:
        assert response.headers["Vary"] == "Authorization"
        assert response.headers["Cache-Control"] == "private, no-cache"
        assert "Set-Cookie" not in response.headers


# The OpenAPI document ---------------------------------------------------------------------------
def _served_document(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_the_document_is_valid_openapi_3_1(client):
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation import OpenAPIV31SpecValidator

    spec = _served_document(client)
    assert spec["openapi"] == "3.1.0"
    validate(spec, cls=OpenAPIV31SpecValidator)
    json.dumps(spec)  # plain JSON all the way down
    assert spec == document()


def test_the_document_and_the_routes_match(app, client):
    spec = _served_document(client)
    documented = {
        (method.upper(), path) for path, item in spec["paths"].items() for method in item
    }
    routed = set()
    for rule in _api_rules(app):
        if rule.endpoint in PUBLIC_API:
            continue
        routed |= {(method, _openapi_path(rule)) for method in _methods(rule)}
    assert documented == routed
    assert len(documented) == len(OPERATIONS)


def test_every_operation_declares_its_problems(client):
    spec = _served_document(client)
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert {"401", "403", "429"} <= set(operation["responses"]), where
            assert operation["security"] == [{"bearer": []}], where
            assert operation["x-scope"] in SCOPES, where
            assert operation["summary"] and operation["operationId"], where
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert PROBLEM in response["content"], where
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                for kind in [schema, *schema.get("anyOf", [])]:
                    if kind.get("type") == "integer":
                        assert "maximum" in kind, (where, parameter["name"])
                    if kind.get("type") == "string" and not {"enum", "format"} & set(kind):
                        assert "maxLength" in kind, (where, parameter["name"])
