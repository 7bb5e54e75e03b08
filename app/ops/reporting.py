"""Optional error reporting with sentry-sdk, on when SENTRY_DSN is set.

Errors reach Sentry through its logging integration: the app's error handler logs every
unexpected exception (app.web.errors) before it renders the 500 page, so Flask's "unhandled
exception" signal never fires and the log record is the one report. Nothing personal leaves:
the SDK's default sends no personal data (`send_default_pii` unset, i.e. False), and `scrub`
(the last step before sending) drops cookies, the Authorization and Referer headers, the user's
e-mail, form data and query strings, masks tokens in the URL's path as the request log does,
masks frame variables named like a secret, and passes every remaining string through the same
redaction as the logs (frame locals included). The request id becomes a tag, so a user's
"Reference" on an error page finds the report.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from flask import Flask
from flask import current_app
from flask import has_app_context
from flask import has_request_context

from app.ops.logs import MASK
from app.ops.logs import SECRET_NAME
from app.ops.logs import mask_secrets
from app.ops.logs import redact
from app.ops.logs import request_secrets

# Referer: the previous page's address, which can hold a token (/invite/<token>, /r/<token>).
_DROPPED_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "referer"}
)


def release() -> str:
    try:
        return f"feelgood@{importlib.metadata.version('feelgood')}"
    except importlib.metadata.PackageNotFoundError:
        return "feelgood@unknown"


def _redacted(value: Any, *, variables: bool = False, secrets: tuple[str, ...] = ()) -> Any:
    """Every string redacted, and the request's path tokens (`secrets`) masked in it; under a
    frame's "vars", a variable whose name says it holds a secret (token, password,
    reset_token...) masked whole, whatever its value."""
    if isinstance(value, str):
        return redact(mask_secrets(value, secrets))
    if isinstance(value, dict):
        return {
            key: MASK if variables and isinstance(key, str) and SECRET_NAME.search(key)
            and item not in (None, "", [], {})
            else _redacted(item, variables=variables or key == "vars", secrets=secrets)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redacted(item, variables=variables, secrets=secrets) for item in value]
    return value


def _masked_url(url: str) -> str:
    """The request URL with the path as the request log shows it (secret route arguments and
    token-like segments masked) and no query string or fragment."""
    parts = urlsplit(url)
    if has_request_context():
        from app.ops.request_id import loggable_path

        path = loggable_path()
    else:
        from app.ops.request_id import mask_unmatched_path

        path = mask_unmatched_path(
            parts.path, current_app.url_map if has_app_context() else None)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def scrub(event: dict[str, Any], _hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's `before_send`: no cookies, credentials, e-mails, form data, Referer or path
    tokens; the request id."""
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
        if isinstance(req.get("url"), str):
            req["url"] = _masked_url(req["url"])
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {k: v for k, v in user.items() if k == "id"}
    if has_request_context():
        from app.ops.request_id import request_id

        event.setdefault("tags", {})["request_id"] = request_id()
    return _redacted(event, secrets=request_secrets())


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
