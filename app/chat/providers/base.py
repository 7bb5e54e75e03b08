"""What every chat provider does: turn a `Message` (plain text, platform-neutral) into the
platform's JSON body, and post a body to a webhook URL, reporting the answer as an `Answer`.

Messages are built from stored rows in the subscriber's transaction; providers only format and
post, so the delivery code (app/chat/delivery.py) treats Slack and Teams alike.
"""

from __future__ import annotations

import os
import socket
import ssl
from abc import ABC
from abc import abstractmethod
from dataclasses import dataclass
from dataclasses import field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import SplitResult
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

from app.models import utcnow
from app.text import clean_text

RESPONSE_TEXT_MAX = 1000  # what is kept of a webhook's answer (shown to admins)
RETRY_AFTER_MAX = 86_400  # a Retry-After beyond a day is taken as a day


@dataclass(frozen=True)
class Entry:
    """One story in a message: its title, link and the people it names (plain text)."""

    title: str
    url: str
    people: str = ""


@dataclass(frozen=True)
class Message:
    """A chat message before formatting. Every string is plain text, as stored: providers
    escape it for their platform (Slack mrkdwn, Teams TextRun) and cap it to their limits."""

    title: str  # the header line
    text: str  # the main paragraph (line breaks kept)
    link_label: str  # the button
    link_url: str
    entries: list[Entry] = field(default_factory=list)
    note: str = ""  # a small line under the entries ("and 3 more stories…")
    fallback: str = ""  # the notification text (phones, screen readers); defaults to the title


@dataclass(frozen=True)
class Answer:
    """What a webhook said: status code (None: no answer, e.g. a timeout or refused connection),
    its body (or the error) trimmed, and Retry-After in seconds when given."""

    code: int | None
    text: str
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300

    @property
    def permanent(self) -> bool:
        """A refusal retrying cannot fix: a redirect (3xx, never followed: a post goes only to
        the saved URL), or the URL wrong, revoked or the body refused (4xx), except "try later"
        answers (408 timeout, 425 too early, 429 rate limited)."""
        return self.code is not None and 300 <= self.code < 500 and self.code not in (408, 425, 429)


def trim(text: str | None, limit: int) -> str:
    """One line, at most `limit` characters, ending in "…" when cut."""
    line = clean_text(text)
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def trim_lines(text: str | None, limit: int) -> str:
    """Like `trim` but keeps line breaks (an intro's paragraphs and list items)."""
    body = clean_text(text, multiline=True)
    return body if len(body) <= limit else body[: limit - 1].rstrip() + "…"


def response_text(body: str | bytes | None) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return trim(body, RESPONSE_TEXT_MAX)


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps: chained exceptions, and exceptions passed as arguments or as a
    `reason` (requests wraps urllib3's MaxRetryError, which wraps the socket error)."""
    found: list[BaseException] = []
    todo = [exc]
    while todo and len(found) < 20:
        current = todo.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None),
                  *current.args]  # fmt: skip
        todo += [e for e in nested if isinstance(e, BaseException)]
    return found


def failure_text(exc: BaseException) -> str:
    """What a post that got no answer shows admins: the exception's class and a fixed reason.

    Never the exception's own text: requests and urllib put the URL in it (e.g. "Max retries
    exceeded with url: /workflows/…&sig=<secret>"), and the URL is the secret.
    """
    causes = _causes(exc)
    reason = "no valid answer"
    for cause in causes:
        if isinstance(cause, TimeoutError | socket.timeout) or "Timeout" in type(cause).__name__:
            reason = "timed out"
        elif isinstance(cause, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(cause, socket.gaierror):
            reason = "host name not found"
        elif isinstance(cause, ssl.SSLError | ssl.CertificateError):
            reason = "TLS handshake failed (certificate or protocol)"
        elif isinstance(cause, ConnectionError):
            reason = "connection lost"
        elif isinstance(cause, OSError) and isinstance(cause.errno, int) and cause.errno > 0:
            reason = os.strerror(cause.errno)
        else:
            continue
        break
    return f"{type(exc).__name__}: {reason}"


def _token_like(part: str) -> bool:
    """A path segment or query value that may be a secret (not a plain word like "services")."""
    return len(part) >= 8 and not (part.isalpha() and part.islower())


def redact(text: str, url: str) -> str:
    """`text` without the secret parts of `url`: the URL itself, its path and query, and every
    token-like path segment or query value (raw and decoded), in case an answer echoes them."""
    parts = urlsplit(url)
    secrets = {url, parts.path + ("?" + parts.query if parts.query else ""), parts.query}
    secrets.update(parts.path.split("/"))
    secrets.update(pair.partition("=")[2] for pair in parts.query.split("&"))
    secrets.update(value for _key, value in parse_qsl(parts.query))
    for secret in sorted(filter(_token_like, secrets), key=len, reverse=True):
        text = text.replace(secret, "…")
    return text


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date (RFC 9110); None when
    absent or unreadable; never negative, at most RETRY_AFTER_MAX."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - utcnow()).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


class Provider(ABC):
    """One chat platform. Subclasses are registered in app/chat/providers/__init__.py."""

    kind: str  # ChatKind value
    label: str  # "Slack", "Microsoft Teams"

    @abstractmethod
    def build(self, message: Message) -> dict[str, Any]:
        """The JSON body for `message`, within the platform's limits."""

    @abstractmethod
    def post(self, url: str, payload: dict[str, Any], *, timeout: float) -> Answer:
        """POST `payload`; never raises for network trouble (an Answer with code None)."""

    def url_warning(self, parts: SplitResult) -> str | None:
        """A hint when a valid URL does not look like this platform's webhook (not an error:
        proxies and new URL formats exist)."""
        return None
