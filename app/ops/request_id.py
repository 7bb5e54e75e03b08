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
from urllib.parse import quote

from flask import Flask
from flask import current_app
from flask import g
from flask import request
from werkzeug.routing import Map
from werkzeug.routing import Rule
from werkzeug.routing.converters import NumberConverter
from werkzeug.wrappers import Response

from app.ops.logs import MASK
from app.ops.logs import REQUEST_ID_KEY as ENVIRON_KEY
from app.ops.logs import SECRETS_KEY
from app.ops.logs import escape_controls
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
    unsubscribe token) masked, anything else that looks personal redacted, and control
    characters escaped (a %0A in the path must not start a forged line in the text log).

    A request no route matched (404, 405) has no route arguments to go by: there the segments
    that follow a known token prefix, and long random-looking segments, are masked."""
    if request.url_rule is None:
        path = mask_unmatched_path(request.path, current_app.url_map)
    else:
        path = mask_view_args(request.path, request.view_args)
    return escape_controls(redact(path))


def mask_view_args(path: str, view_args: dict | None) -> str:
    for name, value in (view_args or {}).items():
        if SECRET_ARGUMENT.search(name) and isinstance(value, str) and value:
            path = path.replace(value, MASK)
    return path


def path_secrets() -> tuple[str, ...]:
    """This request's secret path segments (route arguments named like a secret; on an
    unmatched request the segments `mask_unmatched_path` masks), longest first, as they appear
    in the path and percent-encoded, for masking wherever the path is repeated (an error
    message, Sentry's frame variables). Shorter than 4 characters: not worth the noise."""
    if request.url_rule is None:
        segments = request.path.split("/")
        masked = mask_unmatched_path(request.path, current_app.url_map).split("/")
        values = [seg for seg, out in zip(segments, masked, strict=True) if out == MASK]
    else:
        values = [value for name, value in (request.view_args or {}).items()
                  if SECRET_ARGUMENT.search(name) and isinstance(value, str)]
    found = {form for value in values if len(value) >= 4
             for form in (value, quote(value, safe=""))}
    return tuple(sorted(found, key=len, reverse=True))


# A segment that looks like a generated token: 16+ URL-safe characters with a digit or a
# capital letter (a slug of lower-case words is left readable).
_RANDOM_SEGMENT = re.compile(r"(?=.*[0-9A-Z])[A-Za-z0-9_.~=-]{16,}")
_WILDCARD = None  # a prefix element standing for any one segment


def secret_prefixes(url_map: Map) -> frozenset[tuple[str | None, ...]]:
    """For each route with a secret argument, the segments just before that argument, back to
    and including the nearest literal one: ("reset",) for /reset/<token>, ("off",) for
    /account/notifications/off/<token>, ("a", None) for /a/<int:story_id>/<token>. Matched
    anywhere in a path, so /notifications/off/<token>/x (a mistyped link) is masked too."""
    rules = list(url_map.iter_rules())
    key = (id(url_map), len(rules))
    cached = _PREFIXES.get(key)
    if cached is not None:
        return cached
    found: set[tuple[str | None, ...]] = set()
    for rule in rules:
        segments = rule.rule.strip("/").split("/")
        for index, segment in enumerate(segments):
            if not any(SECRET_ARGUMENT.search(name) and not _numeric(rule, name)
                       for name in _ARGUMENT.findall(segment)):
                continue
            prefix: list[str | None] = []
            for before in reversed(segments[:index]):
                literal = "<" not in before
                prefix.insert(0, before if literal else _WILDCARD)
                if literal:
                    break
            if prefix and prefix[0] is not _WILDCARD:
                found.add(tuple(prefix))
    result = frozenset(found)
    _PREFIXES.clear()  # one app's map at a time is what a process serves
    _PREFIXES[key] = result
    return result


_PREFIXES: dict[tuple[int, int], frozenset[tuple[str | None, ...]]] = {}
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _numeric(rule: Rule, name: str) -> bool:
    return isinstance(rule._converters.get(name), NumberConverter)


def mask_unmatched_path(path: str, url_map: Map | None) -> str:
    """`path` with each segment after a token prefix of `url_map`, and each random-looking
    segment, masked."""
    prefixes = secret_prefixes(url_map) if url_map is not None else frozenset()
    segments = path.split("/")
    masked = list(segments)
    for index, segment in enumerate(segments):
        if not segment:
            continue
        if _RANDOM_SEGMENT.fullmatch(segment) or any(
                _follows(segments, index, prefix) for prefix in prefixes):
            masked[index] = MASK
    return "/".join(masked)


def _follows(segments: list[str], index: int, prefix: tuple[str | None, ...]) -> bool:
    start = index - len(prefix)
    if start < 0:
        return False
    return all(want is _WILDCARD or want == got
               for want, got in zip(prefix, segments[start:index], strict=True))


def _start() -> None:
    request.environ.setdefault(_STARTED, time.perf_counter())
    request.environ[SECRETS_KEY] = path_secrets()
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
