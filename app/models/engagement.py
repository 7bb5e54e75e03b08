"""What readers did with an edition email: opens and clicks.

One row per recorded open or click. `tag` says which message it came from without saying who,
unless per-person analytics is on:

- aggregate-only (the default): `tag` is a random value drawn for each message at send time and
  stored nowhere else, so "unique opens" counts distinct messages while nobody, not even an
  admin with the database, can tell whose message it was; `user_id` is NULL;
- per-person: `tag` is "d<delivery id>" and `user_id` the reader, so editors can see whether a
  team read it; such rows lose `user_id` and get an anonymous tag after the retention period
  (the counts stay).

`kind`: "open" (the 1×1 image), "proxy_open" (an image fetched by a privacy proxy that loads
every image at delivery, such as Apple Mail Privacy Protection: not a read, counted apart),
"click" (a tracked link; `item_kind`/`item_id` name the story or quote it belongs to, if any).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from app.models.base import Base
from app.models.base import UTCDateTime
from app.models.base import utcnow

TAG_MAX = 40


class EngagementEvent(Base):
    __tablename__ = "engagement_events"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True)
    edition_id: Mapped[int] = mapped_column(sa.ForeignKey("editions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(12))
    tag: Mapped[str] = mapped_column(sa.String(TAG_MAX))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    item_kind: Mapped[str | None] = mapped_column(sa.String(8))  # "story" / "quote" / None
    item_id: Mapped[int | None] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.Index("ix_engagement_events_edition_kind_tag", "edition_id", "kind", "tag"),
        sa.Index("ix_engagement_events_edition_item", "edition_id", "item_kind", "item_id"),
        sa.Index("ix_engagement_events_user_id", "user_id"),
        sa.Index("ix_engagement_events_at", "at"),
    )

    def __repr__(self) -> str:
        return f"<EngagementEvent {self.kind} edition={self.edition_id} {self.tag}>"
