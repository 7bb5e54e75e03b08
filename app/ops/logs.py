"""Logging for operators: one handler on the root logger, JSON or readable text (LOG_FORMAT),
every record stamped with the request id and scrubbed of personal data and secrets.

The scrubbing is a filter on that handler, not a rule for every `log.warning(...)` call: code
all over the app names an address in a message ("nudge to %s not sent"), and a filter is the one
place that can promise the output never holds one. It masks e-mail addresses, passwords and
tokens in key=value or JSON form, bearer/basic credentials, the app's own token formats, and
the password in a database URL; in the message, its arguments and the formatted traceback.

The handler is installed once per process (a later app replaces it, so the test suite's many
apps do not stack handlers) and writes to whatever `sys.stderr` is at that moment, so a
captured or replaced stream is honoured.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC
from datetime import datetime

from flask import Flask
from flask import has_request_context
from flask import request
from flask.logging import default_handler

REQUEST_ID_KEY = "fgf.request_id"  # in the WSGI environ (app.ops.request_id sets it)
MASK = "[redacted]"
EMAIL_MASK = "[email]"
_HANDLER_NAME = "fgf.ops"
TEXT_FORMAT = "[%(asctime)s] %(levelname)s in %(name)s [%(request_id)s]: %(message)s"

# The names of secrets, to find their values.
_SECRET_WORDS = "|".join((
    "password", "passwd", "pwd", "passphrase", "secret", "client_secret", "token",
    "access_token", "refresh_token", "id_token", r"api[_-]?key", "apikey", "authorization",
    "cookie", "session",
))
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # postgresql://user:secret@host/db  ->  postgresql://user:[redacted]@host/db
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s/:@]*:)[^\s@/]+@", re.I), rf"\1{MASK}@"),
    # Authorization: Bearer abc / Basic abc
    (re.compile(r"\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{6,}", re.I), rf"\1\2{MASK}"),
    # The app's own secrets (API, SCIM, webhook signing): recognisable by their prefix.
    (re.compile(r"\b(fgf_[a-z]+_|whsec_)[A-Za-z0-9_-]+"), rf"\1{MASK}"),
    # password=..., "token": "...", api_key: ...
    (
        re.compile(rf"""(\b(?:{_SECRET_WORDS})\b["']?\s*[=:]\s*["']?)[^\s"'&,;}}]+""", re.I),
        rf"\1{MASK}",
    ),
    (re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), EMAIL_MASK),
)


def redact(text: str) -> str:
    """`text` without e-mail addresses, passwords, tokens or URL credentials."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def current_request_id() -> str | None:
    """The id app.ops.request_id gave the request being handled in this thread, if any."""
    if not has_request_context():
        return None
    return request.environ.get(REQUEST_ID_KEY)


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id` (None outside a request: the scheduler, threads, the CLI)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class RedactFilter(logging.Filter):
    """Replaces the message (and the traceback text) by their scrubbed form, once."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "fgf_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what we can, scrubbed
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):  # fields given with `extra=`
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        record.fgf_redacted = True
        return True


# Attributes every LogRecord has; anything else came through `extra=` and goes into the JSON.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None))
) | {"message", "asctime", "request_id", "fgf_redacted"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, exc, and `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (int, float, bool, type(None))) else str(
                    value
                )
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


class _StderrHandler(logging.StreamHandler):
    """Writes to the current `sys.stderr` (gunicorn, systemd and pytest all replace it)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def build_handler(log_format: str) -> logging.Handler:
    """The handler with its filters and the formatter for "json" or "text"."""
    handler = _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    return handler


def init_app(app: Flask) -> None:
    """Route every logger through one root handler in the configured format.

    Flask's own handler on the app's logger is removed (the records reach the root handler by
    propagation, formatted and scrubbed like everyone else's). The level of the app's loggers
    stays LOG_LEVEL (app.register_logging); the root keeps its own, so libraries stay quiet.
    """
    app.logger.removeHandler(default_handler)
    install(str(app.config.get("LOG_FORMAT") or "text"))


def install(log_format: str) -> logging.Handler:
    """Put this process's handler on the root logger, replacing the one installed before."""
    log_format = log_format.lower()
    if log_format not in ("json", "text"):
        raise RuntimeError(f"LOG_FORMAT must be 'json' or 'text', not {log_format!r}")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    handler = build_handler(log_format)
    root.addHandler(handler)
    return handler
