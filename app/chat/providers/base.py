"""What every chat provider does: turn a `Message` (plain text, platform-neutral) into the
platform's JSON body, and post a body to a webhook URL, reporting the answer as an `Answer`.

Messages are built from stored rows in the subscriber's transaction; providers only format and
post, so the delivery code (app/chat/delivery.py) treats Slack and Teams alike.
"""

from __future__ import annotations

from abc import ABC
from abc import abstractmethod
from dataclasses import dataclass
from dataclasses import field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import SplitResult

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
        """A refusal retrying cannot fix: the URL is wrong, revoked or the body refused (4xx),
        except "try later" answers (408 timeout, 425 too early, 429 rate limited)."""
        return self.code is not None and 400 <= self.code < 500 and self.code not in (408, 425, 429)


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
