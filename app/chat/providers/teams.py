"""Microsoft Teams workflow webhooks ("Post to a channel when a webhook request is received"):
an Adaptive Card in a message envelope, posted with requests.

Card schema: https://adaptivecards.io/explorer/ (version 1.4, which Teams renders on desktop,
web and mobile). Text people typed goes into RichTextBlock TextRuns, which Teams shows as
typed: a TextBlock would read it as Markdown, so a story title "[win](https://x)" would become
a link. Only fixed text uses TextBlocks.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult

import requests

from app.chat.providers.base import Message
from app.chat.providers.base import Provider
from app.chat.providers.base import redact
from app.chat.providers.base import trim_lines
from app.outbound import Answer
from app.outbound import failure_text
from app.outbound import parse_retry_after
from app.outbound import response_text
from app.outbound import trim

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
# Teams refuses cards over about 28 KB; these keep a card at a few KB.
TITLE_MAX = 150
TEXT_MAX = 1000
TEXT_LINES_MAX = 12
ENTRY_TITLE_MAX = 150
PEOPLE_MAX = 300
NOTE_MAX = 300
ACTION_TITLE_MAX = 75
RESPONSE_BYTES_MAX = 4096
WORKFLOW_HOSTS = (".logic.azure.com", ".powerplatform.com", ".powerautomate.com")


def _run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


def _rich(*inlines: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(inlines), **props}


class TeamsProvider(Provider):
    kind = "teams"
    label = "Microsoft Teams"

    def build(self, message: Message) -> dict[str, Any]:
        body: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": "Feel Good Fridays", "size": "Small",
             "weight": "Bolder", "color": "Accent", "wrap": True},
            _rich(_run(trim(message.title, TITLE_MAX) or "…", size="Large", weight="Bolder")),
        ]  # fmt: skip
        lines = [line for line in trim_lines(message.text, TEXT_MAX).split("\n") if line.strip()]
        for line in lines[:TEXT_LINES_MAX]:
            body.append(_rich(_run(line)))
        for entry in message.entries:
            block = _rich(_run(trim(entry.title, ENTRY_TITLE_MAX), weight="Bolder",
                               selectAction={"type": "Action.OpenUrl", "url": entry.url}),
                          separator=True, spacing="Medium")  # fmt: skip
            body.append(block)
            if entry.people:
                body.append(_rich(_run(trim(entry.people, PEOPLE_MAX), isSubtle=True),
                                  spacing="None"))
        if message.note.strip():
            body.append(_rich(_run(trim(message.note, NOTE_MAX), isSubtle=True, size="Small"),
                              spacing="Medium"))
        card = {
            "$schema": CARD_SCHEMA,
            "type": "AdaptiveCard",
            "version": CARD_VERSION,
            "fallbackText": trim(message.fallback or message.title, TEXT_MAX),
            "body": body,
            "actions": [{"type": "Action.OpenUrl",
                         "title": trim(message.link_label, ACTION_TITLE_MAX),
                         "url": message.link_url}],
            "msteams": {"width": "Full"},
        }  # fmt: skip
        return {
            "type": "message",
            "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None,
                             "content": card}],
        }

    def post(self, url: str, payload: dict[str, Any], *, timeout: float) -> Answer:
        try:
            # Redirects are not followed: a POST must reach the URL the admin saved.
            with requests.post(url, json=payload, timeout=timeout, allow_redirects=False,
                               stream=True) as response:
                # requests has already read a redirect's body (to find where it points).
                body = (response.content[:RESPONSE_BYTES_MAX] if response.is_redirect
                        else response.raw.read(RESPONSE_BYTES_MAX, decode_content=True))
                retry_after = response.headers.get("Retry-After")
                code = response.status_code
        except Exception as exc:  # a timeout, a refused connection, a broken answer
            return Answer(None, failure_text(exc))  # never str(exc): it holds the URL
        text = redact(body.decode("utf-8", "replace"), url)
        return Answer(code, response_text(text), parse_retry_after(retry_after))

    def url_warning(self, parts: SplitResult) -> str | None:
        host = parts.hostname or ""
        if host.endswith(WORKFLOW_HOSTS) and "workflows" in parts.path.lower():
            return None
        if host.endswith(".webhook.office.com"):
            return ("This is an Office 365 connector URL, which Microsoft is retiring: create a "
                    "Teams workflow webhook instead (see the help below).")
        return ("This does not look like a Teams workflow URL (…logic.azure.com/workflows/… or "
                "…powerplatform.com/…/workflows/…). Send a test post to check it.")
