"""Error reporting with sentry-sdk (app.ops.reporting) against a real HTTP server standing in
for Sentry's ingest: one event per unexpected error, tagged with the request id, with no
e-mail address, cookie, Authorization header or password in what is sent."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
from pytest_httpserver import HTTPServer

from app.ops import reporting


def _envelopes(server: HTTPServer) -> list[list[dict]]:
    """Each envelope the server received, as its JSON lines (header, item header, item...)."""
    found = []
    for request, _response in server.log:
        body = request.get_data()
        encoding = request.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            import brotli  # only if sentry-sdk chose it, which needs the package

            body = brotli.decompress(body)
        found.append([json.loads(line) for line in body.decode().splitlines() if line.strip()])
    return found


@pytest.mark.slow  # a real HTTP server as the ingest
@pytest.mark.own_app
@pytest.mark.app_config(PROPAGATE_TEST_ERRORS=False)
def test_an_unexpected_error_is_reported_once_with_the_request_id_and_nothing_personal(
        app, httpserver: HTTPServer):
    httpserver.expect_request("/api/1/envelope/", method="POST").respond_with_data("{}")

    @app.route("/ops-test/report")
    def report():
        password = "Sw0rdfish!"  # a local variable Sentry would show  # noqa: F841
        raise RuntimeError("could not notify dana.private@example.com")

    report._access = "public"
    app.config["SENTRY_DSN"] = f"http://publickey@127.0.0.1:{httpserver.port}/1"
    app.config["SENTRY_ENVIRONMENT"] = "ci"
    reporting.init_app(app)
    try:
        client = app.test_client()
        client.set_cookie("session", "cookie-secret-value")
        response = client.get("/ops-test/report?email=dana.private@example.com",
                              headers={"Authorization": "Bearer fgf_pat_" + "Z" * 40,
                                       "X-Request-ID": "req-sentry-1"})
        assert response.status_code == 500
        import sentry_sdk

        sentry_sdk.flush(timeout=10)
    finally:
        reporting.shutdown()

    envelopes = _envelopes(httpserver)
    events = [item for envelope in envelopes for item in envelope
              if isinstance(item, dict) and item.get("exception")]
    assert len(events) == 1, envelopes
    [event] = events
    assert event["tags"]["request_id"] == "req-sentry-1"
    assert event["environment"] == "ci" and event["release"].startswith("feelgood@")
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    raw = json.dumps(envelopes)
    for secret in ("dana.private@example.com", "cookie-secret-value", "Z" * 40, "Sw0rdfish!"):
        assert secret not in raw, secret
    headers = {k.lower() for k in event.get("request", {}).get("headers", {})}
    assert not headers & {"authorization", "cookie"}
    assert "email" not in event.get("user", {})


def test_without_a_dsn_nothing_is_set_up(app):
    import sentry_sdk

    assert not sentry_sdk.get_client().is_active()


@pytest.mark.slow  # a real HTTP server as the ingest
@pytest.mark.own_app
@pytest.mark.app_config(PROPAGATE_TEST_ERRORS=False)
def test_path_tokens_the_referer_and_secret_variables_never_reach_sentry(
        app, httpserver: HTTPServer):
    httpserver.expect_request("/api/1/envelope/", method="POST").respond_with_data("{}")

    @app.route("/ops-test/reset/<token>")
    def reset(token):
        reset_token = token.upper()  # a local Sentry would show, named like a secret  # noqa: F841
        raise RuntimeError("boom")

    reset._access = "public"
    # Built, not spelled out: the report quotes the source lines around each frame.
    path_token, referer_token = "Reset" + "TokenSecret123", "Invite" + "TokSecret9"
    app.config["SENTRY_DSN"] = f"http://publickey@127.0.0.1:{httpserver.port}/1"
    reporting.init_app(app)
    try:
        response = app.test_client().get(
            "/ops-test/reset/" + path_token,
            headers={"Referer": "https://fgf.example/invite/" + referer_token})
        assert response.status_code == 500
        import sentry_sdk

        sentry_sdk.flush(timeout=10)
    finally:
        reporting.shutdown()

    envelopes = _envelopes(httpserver)
    [event] = [item for envelope in envelopes for item in envelope
               if isinstance(item, dict) and item.get("exception")]
    raw = json.dumps(envelopes)
    for secret in (path_token, path_token.upper(), referer_token):
        assert secret not in raw, secret
    assert event["request"]["url"].endswith("/ops-test/reset/[redacted]")
    assert "referer" not in {k.lower() for k in event["request"].get("headers", {})}
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    [view] = [frame for frame in frames if frame.get("function") == "reset"]
    assert view["vars"]["token"] == view["vars"]["reset_token"] == "[redacted]"


def test_an_event_outside_a_request_has_token_like_url_segments_masked(app):
    event = {"request": {"url": "https://fgf.example/r/SECRETTOKEN456/x?email=a@b.co",
                         "headers": {"Referer": "https://fgf.example/invite/abc"}},
             "extra": {"note": "for ana@example.com"}}
    with app.app_context():
        scrubbed = reporting.scrub(event)
    assert scrubbed["request"]["url"] == "https://fgf.example/r/[redacted]/x"
    assert scrubbed["request"]["headers"] == {}
    assert scrubbed["extra"]["note"] == "for [email]"
