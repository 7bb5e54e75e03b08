"""Short plain-text comments on published stories."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from app.models.base import Base
from app.models.base import UTCDateTime
from app.models.base import utcnow
from app.models.content import Story
from app.models.users import User


class Comment(Base):
    """One person's comment on one story: plain text, never Markdown or HTML.

    Removal is soft (`removed_at`, `removed_by_id`): the comment leaves every page and email at
    once, while the row (and the audit event of its removal) stays for an admin who has to
    answer "what did it say?".
    """

    __tablename__ = "story_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    story_id: Mapped[int] = mapped_column(sa.ForeignKey("stories.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    story: Mapped[Story] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[author_id])

    __table_args__ = (
        # A story's comments in order (newest last), and "this person's last comment here".
        sa.Index("ix_story_comments_story_id", "story_id", "id"),
    )

    @property
    def is_removed(self) -> bool:
        return self.removed_at is not None
