"""Slack incoming webhooks: a Block Kit message posted with slack-sdk's WebhookClient.

Block Kit: https://docs.slack.dev/reference/block-kit/blocks. Text in `mrkdwn` (the section
text and the notification `text`) is escaped the Slack way (&, <, > as entities), so a story
title such as "<!channel>" or "<https://x|y>" shows as typed and never mentions or links.
Headers and button labels are `plain_text`, which Slack does not parse.
"""

from __future__ import annotations

import logging
import urllib.request
from typing import Any
from urllib.parse import SplitResult
from urllib.request import Request

from slack_sdk.webhook import WebhookClient
from slack_sdk.webhook import WebhookResponse

from app.chat.providers.base import Message
from app.chat.providers.base import Provider
from app.chat.providers.base import redact
from app.chat.providers.base import trim_lines
from app.outbound import Answer
from app.outbound import failure_text
from app.outbound import parse_retry_after
from app.outbound import response_text
from app.outbound import trim

# Block Kit limits (characters).
HEADER_MAX = 150
SECTION_MAX = 3000
CONTEXT_MAX = 3000
BUTTON_TEXT_MAX = 75
URL_MAX = 3000
FALLBACK_MAX = 3000
ENTRY_TITLE_MAX = 150  # a story title is at most 150 characters anyway

# The SDK logs every failed request at ERROR; app.chat.delivery logs each failure once, with
# what happens next (retry or give up), so the SDK's own logger stays silent.
_sdk_log = logging.Logger("app.chat.providers.slack.sdk", logging.CRITICAL)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is the answer, not an address to go to: a post goes only to the saved URL (and
    urllib would turn the POST into a GET to wherever the answer points)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ARG002
        return None  # urllib then raises HTTPError(3xx), which the SDK turns into its response


class _Client(WebhookClient):
    """slack-sdk's webhook client (Block Kit body, headers, answer parsing), opening the URL
    with an opener that does not follow redirects.

    The SDK opens with `urllib.request.urlopen`, whose default opener follows them; this
    replaces the one method that opens (slack-sdk 3.x `_perform_http_request_internal`, same
    contract: the answer as a WebhookResponse, HTTPError for a non-2xx answer).
    tests/test_chat_delivery.py checks that a 302's target gets no request.
    """

    def _perform_http_request_internal(self, url: str, req: Request) -> WebhookResponse:
        handlers: list[urllib.request.BaseHandler] = [
            _NoRedirect(), urllib.request.HTTPSHandler(context=self.ssl)]
        if self.proxy:
            handlers.append(urllib.request.ProxyHandler({"http": self.proxy,
                                                         "https": self.proxy}))
        with urllib.request.build_opener(*handlers).open(req, timeout=self.timeout) as answer:
            charset = answer.headers.get_content_charset() or "utf-8"
            body = answer.read().decode(charset, "replace")
            return WebhookResponse(url=url, status_code=answer.status, body=body,
                                   headers=answer.headers)


def escape(text: str) -> str:
    """Slack's three control characters as entities (and nothing else: Slack shows the rest)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str, limit: int, *, lines: bool = True) -> str:
    """`text` escaped and at most `limit` characters once escaped, never cut inside an entity."""
    plain = trim_lines(text, limit) if lines else trim(text, limit)
    out = escape(plain)
    while len(out) > limit:
        plain = plain[: max(1, len(plain) - (len(out) - limit) - 1)].rstrip() + "…"
        out = escape(plain)
    return out


def _link(url: str, title: str) -> str:
    return f"<{escape(url)}|{mrkdwn(title, ENTRY_TITLE_MAX * 5, lines=False)}>"


class SlackProvider(Provider):
    kind = "slack"
    label = "Slack"

    def build(self, message: Message) -> dict[str, Any]:
        blocks: list[dict[str, Any]] = [{
            "type": "header",
            "text": {"type": "plain_text", "text": trim(message.title, HEADER_MAX) or "…",
                     "emoji": True},
        }]  # fmt: skip
        if message.text.strip():
            blocks.append({"type": "section",
                           "text": {"type": "mrkdwn", "text": mrkdwn(message.text, SECTION_MAX)}})
        for entry in message.entries:
            line = f"*{_link(entry.url, trim(entry.title, ENTRY_TITLE_MAX))}*"
            if entry.people:
                line += "\n" + mrkdwn(entry.people, 500, lines=False)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line}})
        if message.note.strip():
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": mrkdwn(message.note, CONTEXT_MAX, lines=False)}]})
        blocks.append({"type": "actions", "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": trim(message.link_label, BUTTON_TEXT_MAX),
                     "emoji": True},
            "url": message.link_url[:URL_MAX],
            "action_id": "open",
            "style": "primary",
        }]})  # fmt: skip
        return {
            "text": mrkdwn(message.fallback or message.title, FALLBACK_MAX, lines=False),
            "blocks": blocks,
            "unfurl_links": False,
            "unfurl_media": False,
        }

    def post(self, url: str, payload: dict[str, Any], *, timeout: float) -> Answer:
        # No retry handlers: the outbox retries with its own backoff and keeps count.
        client = _Client(url, timeout=max(1, int(timeout)), retry_handlers=[], logger=_sdk_log)
        try:
            response = client.send_dict(payload)
        except Exception as exc:  # a timeout, a refused connection, a broken answer
            return Answer(None, failure_text(exc))  # never str(exc): it may hold the URL
        headers = response.headers or {}
        retry_after = headers.get("Retry-After") or headers.get("retry-after")
        return Answer(response.status_code, response_text(redact(response.body or "", url)),
                      parse_retry_after(retry_after))

    def url_warning(self, parts: SplitResult) -> str | None:
        if parts.hostname == "hooks.slack.com" and parts.path.startswith("/services/"):
            return None
        return ("This does not look like a Slack incoming webhook URL "
                "(https://hooks.slack.com/services/…). Send a test post to check it.")
