"""What every chat provider does: turn a `Message` (plain text, platform-neutral) into the
platform's JSON body, and post a body to a webhook URL, reporting the answer as an `Answer`.

Messages are built from stored rows in the subscriber's transaction; providers only format and
post, so the delivery code (app/chat/delivery.py) treats Slack and Teams alike. What a
webhook answers (`Answer`, `failure_text`, `response_text`, `parse_retry_after`) is shared with
the webhooks feature in app/outbound.py.
"""

from __future__ import annotations

from abc import ABC
from abc import abstractmethod
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import SplitResult
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

from app.outbound import Answer
from app.text import clean_text


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


def trim_lines(text: str | None, limit: int) -> str:
    """Like `app.outbound.trim` but keeps line breaks (an intro's paragraphs and list items)."""
    body = clean_text(text, multiline=True)
    return body if len(body) <= limit else body[: limit - 1].rstrip() + "…"


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
