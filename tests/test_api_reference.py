"""/developers/api: any signed-in person reads the API reference, made from the OpenAPI document:
every operation with its method, path, scope, parameters, body and response fields, statuses and
copy-paste examples (the Python one runs), under accessible headings and tables; axe finds no
serious problem."""

from __future__ import annotations

import json
import re

import pytest
from markupsafe import escape

from app.api.openapi import document
from app.api.reference import bp as reference_bp
from app.api.reference import describe_type
from app.api.reference import reference
from app.models import Role
from tests.fixtures.users import login

URL = "/developers/api"


@pytest.fixture
def app(app):
    """The page's blueprint, registered by the factory (app/__init__.py); until that line is in,
    the test's own app registers it."""
    if "api_reference" not in app.blueprints:
        app.register_blueprint(reference_bp)
    return app


pytestmark = pytest.mark.own_app


def _page(app, user) -> str:
    response = login(app.test_client(), user).get(URL)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def test_anonymous_people_go_to_sign_in(app):
    response = app.test_client().get(URL)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_a_bearer_token_does_not_open_the_page(app, admin, api_token):
    secret = api_token(admin, "read submit curate admin")
    response = app.test_client().get(URL, headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 302


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.EDITOR, Role.ADMIN], ids=str)
def test_every_operation_is_on_the_page(app, make_user, role):
    from app.extensions import db

    user = make_user(role)
    db.session.commit()
    page = _page(app, user)
    spec = document()
    count = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            count += 1
            anchor = f'id="op-{operation["operationId"]}"'
            assert page.count(anchor) == 1, operation["operationId"]
            section = page.split(anchor, 1)[1].split("</article>", 1)[0]
            assert f">{method.upper()}</span>" in section
            assert str(escape(path)) in section
            assert f"scope <code>{operation['x-scope']}</code>" in section
            assert str(escape(operation["summary"])) in section
            for parameter in operation.get("parameters", []):
                assert f"<code>{parameter['name']}</code>" in section, parameter["name"]
            for status in operation["responses"]:
                assert f"<code>{status}</code>" in section, status
            assert "curl -X " + method.upper() in section
            assert "requests.request(" in section
            if "requestBody" in operation:
                assert "Request body:" in section and "-d &#39;{" in section
    assert count >= 5
    assert f"{count} operations" in page


def test_the_introduction_covers_the_essentials(app, employee, admin):
    page = _page(app, employee)
    for heading in ["Tokens", "Scopes", "Pagination", "ETags and If-Match", "Errors",
                    "Rate limits", "Webhooks and their signatures", "Schemas"]:
        assert re.search(rf'<h2 id="[a-z-]+">{re.escape(heading)}</h2>', page), heading
    for text in ['href="/account/tokens"', 'href="/admin/api-tokens"', "next_cursor",
                 "If-None-Match", "application/problem+json", "RateLimit-Remaining",
                 "Retry-After", "webhook-signature", 'href="/api/v1/openapi.json"',
                 "&#34;pointer&#34;", "def verify(secret: str, body: bytes, headers)"]:
        assert text in page, text
    assert 'href="/admin/webhooks/"' not in page  # the admin page is only linked for admins
    assert 'href="/admin/webhooks/"' in _page(app, admin)


def test_headings_and_tables_are_accessible(app, employee):
    page = _page(app, employee)
    assert page.count("<h1") == 1
    levels = [int(level) for level in re.findall(r"<h([1-6])", page)]
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), levels
    tables = page.count("<table")
    assert tables > 5
    assert page.count("<thead>") == tables
    assert page.count("<caption") == tables
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "duplicate ids"
    for target in re.findall(r'href="#([^"]+)"', page):
        assert target in ids, target


def test_the_python_example_runs_against_the_api(app, employee, api_token, monkeypatch):
    """The page's Python example for GET /me, run with `requests` routed into the test client."""
    import requests

    secret = api_token(employee, "read")
    client = app.test_client()
    base = "http://localhost/api/v1"
    tags, _, _ = reference(base)
    example = next(op.python for tag in tags for op in tag.operations if op.id == "get_me")
    printed = []

    def fake_request(method, url, headers=None, json=None, timeout=None):
        answer = client.open(url.removeprefix("http://localhost"), method=method,
                             headers=headers, json=json)
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.get_data()
        return response

    monkeypatch.setenv("FGF_TOKEN", secret)
    monkeypatch.setattr(requests, "request", fake_request)
    exec(compile(example, "example", "exec"), {"print": printed.append})  # noqa: S102
    assert printed[0]["person"]["id"] == employee.id


def test_types_in_words():
    assert describe_type({"type": "integer", "minimum": 1, "maximum": 200}) == "integer (1–200)"
    assert describe_type({"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]}) == (
        "string (0–5 characters) or null")
    assert describe_type({"type": "array", "items": {"$ref": "#/components/schemas/TagOut"},
                          "maxItems": 10}) == "list of TagOut (at most 10)"
    assert describe_type({"enum": ["story", "quote"], "type": "string"}) == (
        'one of "story", "quote"')
    assert describe_type({"type": "string", "format": "date-time"}) == "string (date-time)"
    assert describe_type({}) == "any"


@pytest.mark.browser
@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_axe_finds_no_serious_problem(app, browser, live_server, employee):
    from tests.browser.conftest import TIMEOUT_MS
    from tests.browser.conftest import sign_in
    from tests.browser.test_accessibility import AXE_PATH
    from tests.browser.test_accessibility import _violations
    from tests.fixtures.browser import _unavailable

    if not AXE_PATH.is_file():
        _unavailable(f"axe-core not found at {AXE_PATH}")
    for width, height in [(375, 812), (1280, 900)]:
        context = browser.new_context(base_url=live_server,
                                      viewport={"width": width, "height": height})
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(script=AXE_PATH.read_text(encoding="utf-8"))
        try:
            page = context.new_page()
            sign_in(page, employee)
            assert page.goto(URL).status == 200
            assert _violations(page) == [], (width, height)
        finally:
            context.close()


def test_every_python_example_is_valid_python(app):
    tags, _, _ = reference("http://localhost/api/v1")
    operations = [op for tag in tags for op in tag.operations]
    assert len(operations) >= 5
    for op in operations:
        compile(op.python, op.id, "exec")
        assert op.curl.startswith(f"curl -X {op.method} 'http://localhost/api/v1")
        if any(p.name == "If-Match" for p in op.parameters):
            assert "If-Match" in op.curl and '"If-Match": ETAG' in op.python


@pytest.mark.parametrize("path", ["/stories", "/quotes"])
def test_the_submit_examples_work_as_pasted(app, employee, api_token, path):
    """The page's curl and Python bodies for sharing a story or a quote are accepted (201)."""
    tags, _schemas, _spec = reference("http://localhost/api/v1")
    [op] = [op for tag in tags for op in tag.operations
            if op.method == "POST" and op.path == path]
    [python_body] = re.findall(r"^    json=(.*),$", op.python, re.MULTILINE)
    [curl_body] = re.findall(r"^  -d '(.*)'$", op.curl, re.MULTILINE)
    assert json.loads(python_body) == json.loads(curl_body)
    assert "…" not in curl_body
    response = app.test_client().post(
        "/api/v1" + path, data=curl_body, content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(employee, 'submit')}"})
    assert response.status_code == 201, response.get_data(as_text=True)


def test_no_schema_is_named_after_its_module():
    assert not [name for name in document()["components"]["schemas"] if "__" in name]
