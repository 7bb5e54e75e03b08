"""The customer's voice as it arrives: verbatims (incoming customer comments) and where they
came from (a source, an import batch, a remembered column mapping).

A verbatim is never published by itself: an editor turns it into a draft quote or story
(`quote_id` / `story_id` keep the link back) or dismisses it. Its text is redacted before it
is stored (app/voice/redact.py); `original_text` exists only while an admin keeps originals.
Scores count in the insights whatever happens to the text: a response kept only for its score
(status `filtered`, text None) still counts in the Net Promoter Score.
"""

from __future__ import annotations

from datetime import date
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
from app.models.content import Quote
from app.models.content import QuoteSource
from app.models.content import Story
from app.models.content import Touchpoint
from app.models.users import Team
from app.models.users import User

# The longest comment a verbatim keeps, in characters: a longer one is refused with a message,
# never cut (app/voice/services.py `check`; the redaction preview's sample too).
MAX_TEXT = 10_000


class Scale(StrEnum):
    """How a response was scored: Net Promoter (0-10), satisfaction (1-5), effort (1-7)."""

    NPS = "nps"
    CSAT = "csat"
    CES = "ces"

    @property
    def label(self) -> str:
        return SCALE_LABELS[self]

    @property
    def bounds(self) -> tuple[int, int]:
        return SCALE_BOUNDS[self]


SCALE_LABELS = {Scale.NPS: "NPS (0–10)", Scale.CSAT: "CSAT (1–5)", Scale.CES: "CES (1–7)"}
SCALE_BOUNDS = {Scale.NPS: (0, 10), Scale.CSAT: (1, 5), Scale.CES: (1, 7)}


class Band(LabeledEnum):
    """Where a score falls (app/voice/scores.py decides): promoter / passive / detractor."""

    PROMOTER = "promoter"
    PASSIVE = "passive"
    DETRACTOR = "detractor"


class Origin(LabeledEnum):
    IMPORT = "import"
    WEBHOOK = "webhook"
    EMAIL = "email"


class VerbatimStatus(LabeledEnum):
    NEW = "new"  # in the editors' inbox
    USED = "used"  # turned into a quote or a story
    DISMISSED = "dismissed"
    FILTERED = "filtered"  # kept for its score only (an import filter); no text, not in the inbox


class VoiceSource(Base):
    """A named origin of verbatims: a survey tool's imports, a webhook, the email inbox.

    A webhook source has a secret (shown once to the admin who creates or rotates it) that
    signs every request; `payload` names how its JSON body maps to a verbatim."""

    __tablename__ = "voice_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    origin: Mapped[Origin] = mapped_column(enum_column(Origin))
    # What a quote made from one of its verbatims says it came from.
    channel: Mapped[QuoteSource] = mapped_column(enum_column(QuoteSource))
    webhook_secret: Mapped[str | None] = mapped_column(sa.String(100))
    payload: Mapped[str] = mapped_column(sa.String(40), default="generic")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<VoiceSource {self.slug}>"


class VoiceMapping(Base):
    """A column mapping remembered by name, so next month's export imports in one step."""

    __tablename__ = "voice_mappings"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    # {"text": "Comment", "score": "Likelihood to recommend", ...}: field -> file column.
    columns: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    scale: Mapped[Scale | None] = mapped_column(enum_column(Scale))
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class VoiceImport(Base):
    """One applied file import: what it was and what it did (the inbox filters by it)."""

    __tablename__ = "voice_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("voice_sources.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(sa.String(200))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    rows: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    filtered: Mapped[int] = mapped_column(default=0)
    errors: Mapped[int] = mapped_column(default=0)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    source: Mapped[VoiceSource] = relationship()
    actor: Mapped[User | None] = relationship()


class Verbatim(Base):
    __tablename__ = "verbatims"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("voice_sources.id", ondelete="CASCADE"))
    origin: Mapped[Origin] = mapped_column(enum_column(Origin))
    import_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("voice_imports.id", ondelete="SET NULL")
    )
    # The survey tool's response id: one verbatim per (source, response id), however often
    # the same file or webhook call arrives.
    response_id: Mapped[str | None] = mapped_column(sa.String(200))
    text: Mapped[str | None] = mapped_column(sa.Text)  # redacted
    # The text before redaction, only while the admin setting keeps originals (purged after
    # `voice_original_days`); only admins see it.
    original_text: Mapped[str | None] = mapped_column(sa.Text)
    redactions: Mapped[int] = mapped_column(default=0)
    scale: Mapped[Scale | None] = mapped_column(enum_column(Scale))
    score: Mapped[int | None] = mapped_column()
    band: Mapped[Band | None] = mapped_column(enum_column(Band))
    channel: Mapped[QuoteSource] = mapped_column(enum_column(QuoteSource))
    touchpoint_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("touchpoints.id", ondelete="SET NULL")
    )
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"))
    received_on: Mapped[date] = mapped_column(sa.Date)
    language: Mapped[str | None] = mapped_column(sa.String(16))
    consent: Mapped[bool] = mapped_column(default=False)
    # The employee who shared it (who forwarded the email); None for surveys.
    sharer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # Suggested by app/voice/mentions.py at arrival; the editor confirms them on conversion.
    mentioned_user_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    mentioned_team_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    mentions_colleague: Mapped[bool] = mapped_column(default=False)
    # 0 = a promoter naming a colleague (the inbox shows these first), 1 = everything else.
    priority: Mapped[int] = mapped_column(sa.SmallInteger, default=1)
    status: Mapped[VerbatimStatus] = mapped_column(
        enum_column(VerbatimStatus), default=VerbatimStatus.NEW
    )
    quote_id: Mapped[int | None] = mapped_column(sa.ForeignKey("quotes.id", ondelete="SET NULL"))
    story_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stories.id", ondelete="SET NULL"))
    decided_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    source: Mapped[VoiceSource] = relationship()
    voice_import: Mapped[VoiceImport | None] = relationship()
    touchpoint: Mapped[Touchpoint | None] = relationship()
    team: Mapped[Team | None] = relationship()
    sharer: Mapped[User | None] = relationship(foreign_keys=[sharer_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    quote: Mapped[Quote | None] = relationship()
    story: Mapped[Story | None] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("source_id", "response_id"),
        sa.CheckConstraint(
            "score IS NULL OR (scale IS NOT NULL AND score >= 0 AND score <= 10)",
            name="score_range",
        ),
        # The inbox: its default order, read in index order.
        sa.Index("ix_verbatims_inbox", "status", "priority", "received_on", "id"),
        # The insights' customer-voice figures over a period.
        sa.Index("ix_verbatims_scores", "scale", "received_on", "band", "team_id",
                 "touchpoint_id", "mentions_colleague"),
        # The insights' recognition yield: promoter comments (with text) over a period.
        sa.Index("ix_verbatims_promoter_comments", "received_on", "team_id", "mentions_colleague",
                 postgresql_where=sa.text("band = 'promoter' AND text IS NOT NULL"),
                 sqlite_where=sa.text("band = 'promoter' AND text IS NOT NULL")),
        sa.Index("ix_verbatims_received_on", "received_on"),
        sa.Index("ix_verbatims_quote_id", "quote_id"),
        sa.Index("ix_verbatims_story_id", "story_id"),
        sa.Index("ix_verbatims_import_id", "import_id"),
        sa.Index("ix_verbatims_original", "created_at",
                 postgresql_where=sa.text("original_text IS NOT NULL"),
                 sqlite_where=sa.text("original_text IS NOT NULL")),
    )

    def __repr__(self) -> str:
        return f"<Verbatim {self.id} {self.status}>"
