"""Logging for operators: one handler on the root logger, JSON or readable text (LOG_FORMAT),
every record stamped with the request id and scrubbed of personal data and secrets.

The scrubbing is a filter on that handler, not a rule for every `log.warning(...)` call: code
all over the app names an address in a message ("nudge to %s not sent"), and a filter is the one
place that can promise the output never holds one. It masks e-mail addresses (in any script),
passwords and tokens in key=value or JSON form (the name may be part of an identifier, as in
SECRET_KEY; a quoted value is masked to its closing quote), Authorization credentials with
their scheme, bearer/basic credentials, the app's own token formats, the password in a database
URL, and the request's secret path segments; in the message, its arguments, the formatted
traceback and every `extra=` field (a list or dict as its text). The text format also escapes
control characters in the message, so a logged value cannot start a line of its own.

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
# The request's secret path segments (a reset token...), in the WSGI environ (set by
# app.ops.request_id): masked wherever a line or an error report repeats the path.
SECRETS_KEY = "fgf.request_secrets"
MASK = "[redacted]"
EMAIL_MASK = "[email]"
_HANDLER_NAME = "fgf.ops"
TEXT_FORMAT = "[%(asctime)s] %(levelname)s in %(name)s [%(request_id)s]: %(message)s"

# The names of secrets, to find their values: alone or as part of an identifier
# (SECRET_KEY, db_password, x-api-key, refresh_token).
_SECRET_WORDS = "|".join((
    "password", "passwd", "pwd", "passphrase", "secret", "token", r"api[_-]?key",
    "authorization", "cookie", "session", "credential",
))
# Names of variables, fields and route arguments that hold a secret (Sentry's frame variables).
SECRET_NAME = re.compile(rf"{_SECRET_WORDS}|signature", re.I)
# (The look-ahead finds the word, then the name is taken whole and never given back: linear
# time on a long identifier or base64 run, where plain backtracking is quadratic.)
_NAME = rf"""(?<![\w-])(?=[\w-]*?(?:{_SECRET_WORDS}))[\w-]*+["']?\s*[=:]\s*"""
# A value: quoted (to its closing quote, spaces included) or a run without separators.
_QUOTED = r"""(?:"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?)"""
_BARE = r"""[^\s"'&,;}]+"""
# Letters of any script around an @ and a dot: josé@example.com, ÄNNA.MÜLLER@firma.de,
# anna@exämple.de (the TLD: letters, or an IDN's punycode xn--...).
EMAIL = re.compile(
    r"(?<![\w.%+'-])[\w.%+'-]++@[\w-]+(?:\.[\w-]+)*\.(?:xn--[\w-]+|[^\W\d_]{2,})")


def _mask_value(match: re.Match[str]) -> str:
    """The name and separator kept, the value masked; quotes kept, so JSON stays readable."""
    name, value = match.group(1), match.group(2)
    quote = value[0] if value[:1] in ("'", '"') else ""
    closed = quote and len(value) > 1 and value.endswith(quote)
    return f"{name}{quote}{MASK}{quote if closed else ''}"


_PATTERNS: tuple[tuple[re.Pattern[str], object], ...] = (
    # postgresql://user:secret@host/db  ->  postgresql://user:[redacted]@host/db
    (re.compile(r"((?<![a-z0-9+.-])[a-z][a-z0-9+.-]*+://[^\s/:@]*:)[^\s@/]+@", re.I),
     rf"\1{MASK}@"),
    # Authorization: Token abc, Proxy-Authorization: Digest ... -> the scheme and credential
    (
        re.compile(
            rf"""((?<![\w-])(?=[\w-]*?authorization)[\w-]*+["']?\s*[=:]\s*)"""
            rf"""({_QUOTED}|(?:[A-Za-z][\w-]*[ \t]+)?{_BARE})""", re.I),
        _mask_value,
    ),
    # Bearer abc / Basic abc (wherever they appear)
    (re.compile(r"\b(bearer|basic)(\s+)(?!\[redacted\])[A-Za-z0-9._~+/=-]{6,}", re.I),
     rf"\1\2{MASK}"),
    # The app's own secrets (API, SCIM, webhook signing): recognisable by their prefix.
    (re.compile(r"\b(fgf_[a-z]+_|whsec_)[A-Za-z0-9_-]+"), rf"\1{MASK}"),
    # password=..., "token": "hunter 2", SECRET_KEY='...', api_key: ...
    (re.compile(rf"({_NAME})({_QUOTED}|{_BARE})", re.I), _mask_value),
    # (A quote before the address, as in "['ana@example.com']", is kept.)
    (EMAIL, lambda match: match.group()[: len(match.group()) - len(match.group().lstrip("'"))]
     + EMAIL_MASK),
)
# C0 controls (CR, LF...), DEL, NEL and the Unicode line separators: one logged value must not
# start a new line (a forged log entry in the text format).
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


def redact(text: str) -> str:
    """`text` without e-mail addresses, passwords, tokens or URL credentials."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)  # type: ignore[call-overload]
    return text


def escape_controls(text: str) -> str:
    """`text` on one line: control characters as Python escapes (\\n, \\r, \\x1b)."""
    return _CONTROLS.sub(lambda m: repr(m.group())[1:-1], text)


def request_secrets() -> tuple[str, ...]:
    """The secret path segments of the request being handled (none outside a request)."""
    if not has_request_context():
        return ()
    return request.environ.get(SECRETS_KEY, ())


def mask_secrets(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with each of `secrets` (longest first, as set by app.ops.request_id) masked."""
    for secret in secrets:
        text = text.replace(secret, MASK)
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
        # "Unhandled error on GET /reset/<token>": the request's path tokens go too.
        secrets = request_secrets()
        record.msg, record.args = redact(mask_secrets(message, secrets)), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(mask_secrets(record.exc_text, secrets))
        if record.stack_info:
            record.stack_info = redact(mask_secrets(record.stack_info, secrets))
        for key, value in list(vars(record).items()):  # fields given with `extra=`
            if key in _STANDARD or isinstance(value, _SCALARS):
                continue
            # A list of recipients or a dict with an address: scrubbed as the text the JSON
            # line shows (str of it), never passed on whole.
            text = value if isinstance(value, str) else str(value)
            setattr(record, key, redact(mask_secrets(text, secrets)))
        record.fgf_redacted = True
        return True


_SCALARS = (int, float, bool, type(None))
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
                entry[key] = value if isinstance(value, _SCALARS) else str(value)
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

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        """The message on one line: a CR/LF in a logged value (a path, an address someone
        typed) would otherwise start a line that looks like an entry of its own. The
        traceback, appended after this, keeps its lines."""
        record.message = escape_controls(record.message)
        return super().formatMessage(record)


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
