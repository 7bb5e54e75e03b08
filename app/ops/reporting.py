"""Optional error reporting with sentry-sdk, on when SENTRY_DSN is set.

Errors reach Sentry through its logging integration: the app's error handler logs every
unexpected exception (app.web.errors) before it renders the 500 page, so Flask's "unhandled
exception" signal never fires and the log record is the one report. Nothing personal leaves:
the SDK's default sends no personal data (`send_default_pii` unset, i.e. False), and `scrub`
(the last step before sending) drops cookies, the Authorization header, the user's e-mail,
form data and query strings, and passes every remaining string through the same redaction as
the logs (frame locals included). The request id becomes a tag, so a user's "Reference" on an
error page finds the report.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from flask import Flask
from flask import has_request_context

from app.ops.logs import redact

_DROPPED_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)


def release() -> str:
    try:
        return f"feelgood@{importlib.metadata.version('feelgood')}"
    except importlib.metadata.PackageNotFoundError:
        return "feelgood@unknown"


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


def scrub(event: dict[str, Any], _hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's `before_send`: no cookies, credentials, e-mails or form data; the request id."""
    req = event.get("request")
    if isinstance(req, dict):
        req.pop("cookies", None)
        req.pop("data", None)
        headers = req.get("headers")
        if isinstance(headers, dict):
            req["headers"] = {
                k: v for k, v in headers.items() if k.lower() not in _DROPPED_HEADERS
            }
        if isinstance(req.get("query_string"), str):
            req["query_string"] = ""  # search terms, tokens, addresses
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {k: v for k, v in user.items() if k == "id"}
    if has_request_context():
        from app.ops.request_id import request_id

        event.setdefault("tags", {})["request_id"] = request_id()
    return _redacted(event)


def init_app(app: Flask) -> None:
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(
        dsn=dsn,
        integrations=[FlaskIntegration()],
        environment=app.config.get("SENTRY_ENVIRONMENT") or "production",
        release=release(),
        # No personal data: `send_default_pii` is left unset, which is False in every 2.x SDK
        # (the newest deprecate passing it, for `data_collection`, whose default follows it);
        # `scrub` removes the rest.
        before_send=scrub,
        before_breadcrumb=lambda crumb, _hint: _redacted(crumb),
        traces_sample_rate=0,
    )


def shutdown() -> None:
    """Flush what is queued and detach the client (a test that turned Sentry on turns it off)."""
    import sentry_sdk

    client = sentry_sdk.get_client()
    if client.is_active():
        client.flush(timeout=5)
        client.close(timeout=5)
    sentry_sdk.get_global_scope().set_client(None)
