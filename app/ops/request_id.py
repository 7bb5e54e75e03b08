"""A request id for every request, and one log line per request.

The id comes from the proxy's REQUEST_ID_HEADER when it is sane (at most 64 characters of
[A-Za-z0-9._-]: anything else could forge log lines or carry personal data), else it is made
here. It is kept in the WSGI environ (so it outlives anything that clears `flask.g`, and the error
pages find it even when the request failed early), copied to `g.request_id`, stamped on every log
record (app.ops.logs) and returned in the same response header, so a user can quote the
"Reference" on an error page and the operator finds the request's lines.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from flask import Flask
from flask import current_app
from flask import g
from flask import request
from werkzeug.wrappers import Response

from app.ops.logs import MASK
from app.ops.logs import REQUEST_ID_KEY as ENVIRON_KEY
from app.ops.logs import redact

log = logging.getLogger("app.requests")

_STARTED = "fgf.request_started"
SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Route arguments that are secrets: /reset/<token>, /unsubscribe/<token>, /o/<token>/...
SECRET_ARGUMENT = re.compile(r"token|secret|signature|password", re.I)
# Probes hit these every few seconds: their lines would drown the rest (logged at DEBUG).
QUIET_PATHS = frozenset({"/healthz", "/readyz"})


def request_id() -> str:
    """This request's id: the incoming one when sane, else a new random one (kept)."""
    environ = request.environ
    if ENVIRON_KEY not in environ:
        incoming = request.headers.get(current_app.config["REQUEST_ID_HEADER"], "").strip()
        environ[ENVIRON_KEY] = (
            incoming if SANE_ID.fullmatch(incoming) else secrets.token_hex(8)
        )
    return environ[ENVIRON_KEY]


def loggable_path() -> str:
    """The path without its query string, with secret route arguments (a password-reset or
    unsubscribe token) masked and anything else that looks personal redacted."""
    path = request.path
    for name, value in (request.view_args or {}).items():
        if SECRET_ARGUMENT.search(name) and isinstance(value, str) and value:
            path = path.replace(value, MASK)
    return redact(path)


def _start() -> None:
    request.environ.setdefault(_STARTED, time.perf_counter())
    g.request_id = request_id()


def _finish(response: Response) -> Response:
    rid = request_id()
    response.headers[current_app.config["REQUEST_ID_HEADER"]] = rid
    started = request.environ.get(_STARTED)
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
    level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
    # The path only: query strings carry search terms, tokens and addresses.
    path = loggable_path()
    log.log(
        level,
        "%s %s %s %sms",
        request.method,
        path,
        response.status_code,
        duration_ms,
        extra={
            "method": request.method,
            "path": path,
            "status": response.status_code,
            "duration_ms": duration_ms,
        },
    )
    return response


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.add_template_global(request_id, "request_id")
