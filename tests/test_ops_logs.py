"""Structured logs and request ids (app.ops.logs, app.ops.request_id): one JSON object per line,
the request id in the response header, on the error pages and in every line of its request,
and no personal data or secret in any line, checked end to end through real features."""

from __future__ import annotations

import logging
import re
from datetime import UTC
from datetime import datetime

import pytest

from app.extensions import db
from app.newsletter import sending
from app.webhooks import delivery
from tests.fixtures.smtp import configure_app_for
from tests.fixtures.webhooks import make_delivery
from tests.fixtures.webhooks import make_endpoint
from tests.helpers_sender import seed_edition

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def _boom_route(app) -> None:
    @app.route("/ops-test/boom")
    def boom():  # not guarded: this app is the test's own (own_app) and never walked
        raise ValueError("could not notify dana.private@example.com with password=Sw0rdfish!")

    boom._access = "public"


# -- request ids -----------------------------------------------------------------------------------


def test_a_sane_incoming_request_id_is_kept_and_anything_else_replaced(app, client):
    assert client.get("/healthz", headers={"X-Request-ID": "lb-1234.abc_DEF"}).headers[
        "X-Request-ID"] == "lb-1234.abc_DEF"
    for bad in ("x" * 65, "has space", "a/b;c", "é", "<script>", ""):
        rid = client.get("/healthz", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert rid != bad and re.fullmatch(r"[0-9a-f]{16}", rid)
    first = client.get("/healthz").headers["X-Request-ID"]
    assert first != client.get("/healthz").headers["X-Request-ID"]  # one per request


def test_the_header_name_is_configurable(app, client):
    app.config["REQUEST_ID_HEADER"] = "X-Correlation-ID"
    response = client.get("/healthz", headers={"X-Correlation-ID": "abc-123"})
    assert response.headers["X-Correlation-ID"] == "abc-123"


@pytest.mark.parametrize("path,status", [("/no-such-page", 404), ("/admin/system", 403)])
def test_error_pages_show_the_request_id_as_a_reference(app, employee_client, path, status):
    response = employee_client.get(path, headers={"X-Request-ID": "quote-me-42"})
    assert response.status_code == status
    assert 'Reference: <code data-request-id>quote-me-42</code>' in response.get_data(as_text=True)


@pytest.mark.own_app
@pytest.mark.app_config(PROPAGATE_TEST_ERRORS=False)
def test_the_500_page_shows_the_reference_of_the_logged_error(app, log_lines):
    _boom_route(app)
    response = app.test_client().get("/ops-test/boom")
    assert response.status_code == 500
    rid = response.headers["X-Request-ID"]
    assert f"Reference: <code data-request-id>{rid}</code>" in response.get_data(as_text=True)
    assert f"[{rid}]: Unhandled error on GET /ops-test/boom" in log_lines.text()


# -- JSON lines ------------------------------------------------------------------------------------


@pytest.mark.own_app
@pytest.mark.app_config(LOG_FORMAT="json", PROPAGATE_TEST_ERRORS=False)
def test_json_logs_are_one_object_per_line_with_the_request_id(app, log_lines):
    _boom_route(app)
    client = app.test_client()
    ok = client.get("/login?next=/x&email=someone@example.com")
    boom = client.get("/ops-test/boom?q=private")
    client.get("/healthz")
    client.get("/readyz")
    entries = log_lines.json()  # every line parses
    requests = [e for e in entries if e["logger"] == "app.requests"]
    assert [(e["method"], e["path"], e["status"]) for e in requests] == [
        ("GET", "/login", 200), ("GET", "/ops-test/boom", 500)]  # probes only at DEBUG
    assert requests[0]["request_id"] == ok.headers["X-Request-ID"]
    assert requests[0]["level"] == "INFO" and requests[0]["duration_ms"] >= 0
    assert datetime.fromisoformat(requests[0]["ts"]).tzinfo is not None
    assert "?" not in requests[0]["msg"] and "someone" not in requests[0]["msg"]
    [error] = [e for e in entries if e["level"] == "ERROR"]
    assert error["request_id"] == boom.headers["X-Request-ID"]
    assert error["logger"] == "app" and error["msg"] == "Unhandled error on GET /ops-test/boom"
    assert "Traceback" in error["exc"] and "ValueError" in error["exc"]
    assert "dana.private" not in error["exc"] and "Sw0rdfish" not in error["exc"]
    assert set(error) >= {"ts", "level", "logger", "msg", "request_id", "exc"}


def test_lines_outside_a_request_have_no_request_id(app, log_lines):
    from app.ops import logs

    logs.install("json")
    logging.getLogger("app.somewhere").warning("outside %s", "a request")
    [entry] = log_lines.json()
    assert entry["msg"] == "outside a request" and entry["request_id"] is None


# -- no personal data, no secrets ------------------------------------------------------------------


@pytest.mark.slow  # a real SMTP server and a real HTTP receiver
@pytest.mark.own_app
@pytest.mark.app_config(LOG_FORMAT="json", PROPAGATE_TEST_ERRORS=False)
def test_no_email_password_or_token_reaches_the_logs(
        app, log_lines, make_user, smtp_server, webhook_server):
    _boom_route(app)
    client = app.test_client()
    person = make_user(email="dana.private@example.com", password="Correct-Horse-9")
    db.session.commit()
    secrets = ["Wrong-Password-77", "Correct-Horse-9", "Sw0rdfish!"]

    # A failed sign-in and a password reset, each naming the person's address.
    assert client.post("/login", data={"email": person.email,
                                       "password": "Wrong-Password-77"}).status_code == 200
    client.post("/reset", data={"email": person.email})
    # An API call with a token that does not exist, in the header and in the query string.
    bogus = "fgf_pat_" + "Q" * 43
    secrets.append(bogus[8:])
    api = client.get(f"/api/v1/stories/1?access_token={bogus}",
                     headers={"Authorization": f"Bearer {bogus}"})
    assert api.status_code == 401
    # An edition sent to a real SMTP server that refuses one recipient.
    configure_app_for(app, smtp_server)
    edition = seed_edition(recipients=3)
    db.session.commit()
    smtp_server.fail_data_for("staff1@example.com", 550, times=5)
    sending.run_edition(edition.id, now=datetime(2026, 6, 5, 7, 0, tzinfo=UTC))
    # A webhook receiver that fails.
    webhook_server.expect_request("/hook").respond_with_data("down", status=500)
    endpoint = make_endpoint(webhook_server.url_for("/hook"))
    make_delivery(endpoint)
    db.session.commit()
    assert delivery.deliver().failed == 0  # failed for now: retried later
    # An unexpected error whose message names an address and a password.
    assert client.get("/ops-test/boom").status_code == 500
    # Code that logs a database URL or a key=value secret by mistake.
    logging.getLogger("app.somewhere").warning(
        "connecting to %s (token=%s)", "postgresql://fgf:Db-Pass-31@db/fgf", "abc123secretvalue")
    secrets += ["Db-Pass-31", "abc123secretvalue"]

    text = log_lines.text()
    entries = log_lines.json()
    messages = " | ".join(e["msg"] for e in entries)
    # What happened is there...
    assert "POST /login 200" in messages and "POST /reset" in messages
    assert "GET /api/v1/stories/1 401" in messages
    assert "delivery" in messages and "failed" in messages
    assert "webhook delivery" in messages
    assert "[redacted]" in text
    # ... and nothing personal or secret.
    assert EMAIL.search(text) is None, EMAIL.search(text)
    for secret in secrets:
        assert secret not in text, secret
    assert "access_token" not in text  # query strings are never logged


@pytest.mark.own_app
@pytest.mark.app_config(LOG_FORMAT="json")
def test_secret_route_arguments_and_addresses_in_paths_are_masked(app, log_lines):
    client = app.test_client()
    client.get("/reset/Tok3n-Secret-Value.xyz")
    client.get("/unsubscribe/Unsub-Secret-Value")
    client.get("/no-such/dana.private@example.com")
    paths = [e["path"] for e in log_lines.json() if e["logger"] == "app.requests"]
    assert paths == ["/reset/[redacted]", "/unsubscribe/[redacted]", "/no-such/[email]"]
    text = log_lines.text()
    assert "Secret-Value" not in text and "dana.private" not in text


# -- the redaction's edges -------------------------------------------------------------------------


@pytest.mark.parametrize("text,leaked", [
    ("nudge to josé@example.com not sent", "josé"),
    ("bounce from anna@exämple.de", "exämple"),
    ("bounce from ÄNNA.MÜLLER@firma.de", "MÜLLER"),
    ("to zoë@exämple.de and x@xn--80ak6aa92e.xn--p1ai", "zoë"),
    ("to x@xn--80ak6aa92e.xn--p1ai", "xn--p1ai"),
])
def test_addresses_in_any_script_are_masked(text, leaked):
    from app.ops.logs import redact

    redacted = redact(text)
    assert leaked not in redacted and "[email]" in redacted, redacted


@pytest.mark.parametrize("text,secret", [
    ("config SECRET_KEY='xyz-secret-1'", "xyz-secret-1"),
    ("config secret_key=abc-secret-2", "abc-secret-2"),
    ("db_password=Pw-3 refresh_token=Rt-4", "Pw-3"),
    ("db_password=Pw-3 refresh_token=Rt-4", "Rt-4"),
    ("headers: Authorization: Token abcdefgh12345", "abcdefgh12345"),
    ("{'Proxy-Authorization': 'Digest user=a, response=ffee99'}", "ffee99"),
    ('{"password": "hunter 2", "x": 1}', " 2"),
    ("x-api-key: Key-5", "Key-5"),
])
def test_secrets_named_in_identifiers_and_quoted_values_are_masked(text, secret):
    from app.ops.logs import redact

    redacted = redact(text)
    assert secret not in redacted and "[redacted]" in redacted, redacted


def test_the_redaction_keeps_what_is_not_secret_and_stays_linear():
    import time

    from app.ops.logs import redact

    assert redact('{"password": "hunter 2", "x": 1}') == '{"password": "[redacted]", "x": 1}'
    assert redact("Authorization: Token abc123xyz next") == "Authorization: [redacted] next"
    assert redact("['ana@example.com']") == "['[email]']"
    # Long runs of what the patterns look for: each pattern scans them once, not once per
    # character (a quadratic pattern takes minutes on 100 000 characters).
    for text in ("A" * 100_000, "token" * 20_000, "a-" * 50_000, "'" * 100_000,
                 "a:" * 50_000, "x" * 99_000 + "@example.com"):
        started = time.monotonic()
        redact(text)
        assert time.monotonic() - started < 5, text[:10]


@pytest.mark.own_app
@pytest.mark.app_config(LOG_FORMAT="json")
def test_extra_fields_of_any_type_are_redacted(app, log_lines):
    logging.getLogger("app.somewhere").warning(
        "list extra", extra={"recipients": ["ana@example.com"],
                             "person": {"email": "bo@example.com", "token": "tok-Secret-6"},
                             "count": 3})
    [entry] = log_lines.json()
    assert entry["recipients"] == "['[email]']" and entry["count"] == 3
    assert "bo@example.com" not in entry["person"] and "tok-Secret-6" not in entry["person"]


@pytest.mark.own_app
@pytest.mark.app_config(LOG_FORMAT="json")
def test_tokens_in_paths_no_route_matched_are_masked(app, log_lines):
    client = app.test_client()
    assert client.get("/r/SECRETTOKEN456").status_code == 404  # /r/<token>/<tag> without a tag
    client.get("/notifications/off/SECRETTOKEN789/x")  # a mangled /account/notifications/off/..
    assert client.get("/admin/people/import/SECRETTOKEN123/apply").status_code == 405
    client.get("/a/7/Applause-Secret")  # /a/<int:story_id>/<token>, wrong method or not
    client.get("/nowhere/Zq3xLmN8pRt5vWy2KbJ7")  # a long random-looking segment anywhere
    client.get("/no-such-page/edition-highlights")  # a slug stays readable
    paths = [e["path"] for e in log_lines.json() if e["logger"] == "app.requests"]
    assert paths == ["/r/[redacted]", "/notifications/off/[redacted]/x",
                     "/admin/people/import/[redacted]/apply", "/a/7/[redacted]",
                     "/nowhere/[redacted]", "/no-such-page/edition-highlights"]
    assert "SECRETTOKEN" not in log_lines.text()


@pytest.mark.own_app
@pytest.mark.app_config(PROPAGATE_TEST_ERRORS=False)
def test_the_path_of_an_unhandled_error_is_masked_in_its_log_line(app, log_lines):
    @app.route("/ops-test/reset/<token>")
    def reset(token):
        raise RuntimeError("boom")

    reset._access = "public"
    secret = "Reset" + "Token-Secret-7"  # not spelled out: the traceback shows this source
    assert app.test_client().get(f"/ops-test/reset/{secret}").status_code == 500
    text = log_lines.text()
    assert "Unhandled error on GET /ops-test/reset/[redacted]" in text
    assert secret not in text


def test_a_line_break_in_a_path_cannot_forge_a_text_line(app, client, log_lines):
    forged = "[2026-01-01 00:00:00,000] WARNING in app.auth [-]: admin signed in"
    client.get("/nope%0A" + forged.replace(" ", "%20") + "%0D%0Ax%1Bz")
    lines = log_lines.text().splitlines()
    [line] = [line for line in lines if "app.requests" in line and "/nope" in line]
    assert "/nope\\n[2026" in line and "\\r\\nx\\x1bz" in line
    assert not any(line.startswith("[2026-01-01") for line in lines)
