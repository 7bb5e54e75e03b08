"""One notification for one person, as every channel receives it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from app.models import User
from app.notifications.kinds import Kind


@dataclass(frozen=True)
class Notification:
    """Built by a subscriber inside its transaction, handed to every configured channel.

    Email renders `template` (a templates/email pair) with `context` and the recipient as
    `user`; a chat or webhook channel has `subject` and `url`, the one link that matters.
    """

    kind: Kind
    user: User
    subject: str
    template: str
    context: Mapping[str, Any] = field(default_factory=dict)
    url: str | None = None
