"""Notification preferences per person and kind, and the applause email's bookkeeping."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from app.models.base import Base
from app.models.base import UTCDateTime
from app.models.base import utcnow


class NotificationPreference(Base):
    """A person's choice for one kind (app.notifications.kinds); no row means the kind's default.

    The weekly edition is not stored here: `users.email_opt_out` has always been its switch and
    the newsletter's recipient query reads it, so it stays the one place for that kind.
    """

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    enabled: Mapped[bool] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApplauseNotice(Base):
    """How far the author of a story has been told about its applause, and when last.

    Reactions with an id up to `last_reaction_id` have been told (or predate the feature); the
    next email waits until `notified_at` is a day old, so applause is coalesced per story.
    """

    __tablename__ = "applause_notices"

    story_id: Mapped[int] = mapped_column(
        sa.ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True
    )
    last_reaction_id: Mapped[int] = mapped_column(default=0)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
