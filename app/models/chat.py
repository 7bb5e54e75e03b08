"""Chat destinations (Slack incoming webhooks, Microsoft Teams workflow webhooks) and the
durable outbox of posts to them.

A post row is written in the transaction of the subscriber that reacts to a domain event (after
the commit that caused the event), and delivered later by the "chat" scheduled job, with
retries and backoff; the row, not a process's memory, is the truth about what still has to go
out, so a crash loses nothing and a slow chat service never holds a transaction or the send.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from app.models.base import Base
from app.models.base import LabeledEnum
from app.models.base import UTCDateTime
from app.models.base import enum_column
from app.models.base import utcnow
from app.models.users import Team

NAME_MAX = 80
URL_MAX = 2000


class ChatKind(LabeledEnum):
    SLACK = "slack"
    TEAMS = "teams"


class ChatPostStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by one process; released after the claim timeout
    SENT = "sent"
    FAILED = "failed"  # gave up (permanent refusal or out of attempts); visible to admins


class ChatDestination(Base):
    __tablename__ = "chat_destinations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(NAME_MAX))
    kind: Mapped[ChatKind] = mapped_column(enum_column(ChatKind))
    # The webhook URL is the secret (whoever has it can post): stored server-side, never shown
    # again after saving (the admin page shows its host only).
    webhook_url: Mapped[str] = mapped_column(sa.String(URL_MAX))
    on_edition_sent: Mapped[bool] = mapped_column(default=True)
    on_colleague_featured: Mapped[bool] = mapped_column(default=False)
    on_story_published: Mapped[bool] = mapped_column(default=False)
    # "New story published" and shout-outs only for this team's stories (None: every team).
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(default=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    team: Mapped[Team | None] = relationship()

    def __repr__(self) -> str:
        return f"<ChatDestination {self.id} {self.kind} {self.name!r}>"


class ChatPost(Base):
    __tablename__ = "chat_posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    destination_id: Mapped[int] = mapped_column(
        sa.ForeignKey("chat_destinations.id", ondelete="CASCADE")
    )
    # What the post announces: "edition_sent", "colleague_featured", "story_published", "test".
    event: Mapped[str] = mapped_column(sa.String(40))
    # One post per destination per happening (e.g. "edition:12"): a re-dispatched event adds
    # nothing (the unique constraint, not a check before insert).
    dedupe_key: Mapped[str] = mapped_column(sa.String(120))
    # The provider's JSON body, built when the post is recorded (what was true then).
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[ChatPostStatus] = mapped_column(
        enum_column(ChatPostStatus), default=ChatPostStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last answer: HTTP status (None: no answer, e.g. a timeout) and its text, trimmed.
    response_code: Mapped[int | None] = mapped_column()
    response_text: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    destination: Mapped[ChatDestination] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("destination_id", "dedupe_key"),
        sa.Index("ix_chat_posts_status_next", "status", "next_attempt_at"),
        sa.Index("ix_chat_posts_status_sent", "status", "sent_at"),  # pruning old sent posts
    )

    def __repr__(self) -> str:
        return f"<ChatPost {self.id} {self.event} {self.status}>"
