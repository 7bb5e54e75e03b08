"""The chat providers, one module per platform, looked up by a destination's kind."""

from __future__ import annotations

from app.chat.providers.base import Entry
from app.chat.providers.base import Message
from app.chat.providers.base import Provider
from app.chat.providers.slack import SlackProvider
from app.chat.providers.teams import TeamsProvider
from app.models import ChatKind
from app.outbound import Answer

PROVIDERS: dict[str, Provider] = {p.kind: p for p in (SlackProvider(), TeamsProvider())}


def get_provider(kind: ChatKind | str) -> Provider:
    return PROVIDERS[str(kind)]


__all__ = ["PROVIDERS", "Answer", "Entry", "Message", "Provider", "get_provider"]
