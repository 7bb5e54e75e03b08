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
