"""Newsletter editions, their ordered items, and per-recipient deliveries."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from app.models.base import Base
from app.models.base import LabeledEnum
from app.models.base import UTCDateTime
from app.models.base import enum_column
from app.models.base import utcnow
from app.models.content import Quote
from app.models.content import Story
from app.models.users import User


class EditionStatus(LabeledEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class Edition(Base):
    __tablename__ = "editions"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    # ISO week the edition belongs to, e.g. "2026-W48" (set when it is scheduled or sent).
    iso_week: Mapped[str | None] = mapped_column(sa.String(8))
    subject: Mapped[str] = mapped_column(sa.String(150), default="")
    intro_md: Mapped[str] = mapped_column(sa.Text, default="")
    intro_html: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[EditionStatus] = mapped_column(
        enum_column(EditionStatus), default=EditionStatus.DRAFT
    )
    version: Mapped[int] = mapped_column(default=1)
    # An editor's override of the weekly send time for this edition (UTC); None = the schedule.
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sending_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Frozen at send time: the archive and any re-send show exactly what was emailed.
    content_html: Mapped[str | None] = mapped_column(sa.Text)
    content_text: Mapped[str | None] = mapped_column(sa.Text)
    web_html: Mapped[str | None] = mapped_column(sa.Text)
    recipients_count: Mapped[int] = mapped_column(default=0)
    sent_count: Mapped[int] = mapped_column(default=0)
    failed_count: Mapped[int] = mapped_column(default=0)
    web_views: Mapped[int] = mapped_column(default=0)
    # The mail server could not be reached or refused the session: sending waits (no attempt is
    # charged to anyone) and the scheduler tries again at `send_retry_at`, backing off.
    send_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # outage start
    send_pause_reason: Mapped[str | None] = mapped_column(sa.Text)
    send_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_pause_count: Mapped[int] = mapped_column(default=0)  # passes stopped in a row
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    items: Mapped[list[EditionItem]] = relationship(
        back_populates="edition",
        cascade="all, delete-orphan",
        order_by="EditionItem.position",
    )

    __table_args__ = (
        # There is at most one upcoming (draft) edition at any time.
        sa.Index(
            "uq_editions_single_draft",
            "status",
            unique=True,
            sqlite_where=sa.text("status = 'draft'"),
            postgresql_where=sa.text("status = 'draft'"),
        ),
        sa.Index("ix_editions_status_sent_at", "status", "sent_at"),
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def full_subject(self) -> str:
        return f"Feel Good Fridays #{self.number}: {self.subject or 'This week'}"

    def __repr__(self) -> str:
        return f"<Edition #{self.number} {self.status}>"


class EditionItem(Base):
    __tablename__ = "edition_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(sa.ForeignKey("editions.id", ondelete="CASCADE"))
    story_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stories.id", ondelete="CASCADE"))
    quote_id: Mapped[int | None] = mapped_column(sa.ForeignKey("quotes.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    pinned: Mapped[bool] = mapped_column(default=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    edition: Mapped[Edition] = relationship(back_populates="items")
    story: Mapped[Story | None] = relationship(back_populates="edition_items")
    quote: Mapped[Quote | None] = relationship(back_populates="edition_items")

    __table_args__ = (
        sa.CheckConstraint(
            "(story_id IS NOT NULL AND quote_id IS NULL) "
            "OR (story_id IS NULL AND quote_id IS NOT NULL)",
            name="story_or_quote",
        ),
        sa.UniqueConstraint("edition_id", "story_id"),
        sa.UniqueConstraint("edition_id", "quote_id"),
        sa.Index("ix_edition_items_edition_position", "edition_id", "position"),
        sa.Index("ix_edition_items_story_id", "story_id"),
        sa.Index("ix_edition_items_quote_id", "quote_id"),
    )

    @property
    def content(self) -> Story | Quote:
        return self.story if self.story is not None else self.quote  # type: ignore[return-value]


class Delivery(Base):
    """One recipient of one edition; the unit of reliable, resumable sending."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(sa.ForeignKey("editions.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(sa.String(254))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    recipient_name: Mapped[str | None] = mapped_column(sa.String(120))
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_column(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    message_id: Mapped[str] = mapped_column(sa.String(255))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    edition: Mapped[Edition] = relationship()
    user: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("edition_id", "email"),
        sa.Index("ix_deliveries_edition_status", "edition_id", "status"),
        sa.Index("ix_deliveries_status_next_attempt", "status", "next_attempt_at"),
        # The relay's sliding-window cap counts messages sent since a moment (pacing.py).
        sa.Index("ix_deliveries_sent_at", "sent_at"),
    )
