"""What people submit: customer-experience stories and customer quotes, and their vocabulary."""

from __future__ import annotations

from datetime import date
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import declared_attr
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from app.models.base import Base
from app.models.base import LabeledEnum
from app.models.base import UTCDateTime
from app.models.base import enum_column
from app.models.base import utcnow
from app.models.users import Team
from app.models.users import User

if TYPE_CHECKING:
    from app.models.editions import EditionItem


def insights_indexes(
    table: str, *, submitted_extra: tuple[str, ...] = (), published_extra: tuple[str, ...] = ()
) -> tuple[sa.Index, ...]:
    """The insights' covering indexes of a submission table (app/insights/queries.py), so
    figures over a period read index ranges instead of fetching every row
    (docs/performance.md). Stories and quotes share them; `*_extra` are a table's own columns."""
    return (
        sa.Index(
            f"ix_{table}_submitted_at", "submitted_at", "team_id", "author_id", *submitted_extra
        ),
        sa.Index(f"ix_{table}_author_submitted_at", "author_id", "submitted_at"),
        sa.Index(f"ix_{table}_approved_at", "approved_at", "team_id"),
        sa.Index(
            f"ix_{table}_decided_at",
            "decided_at",
            "submitted_at",
            "status",
            "team_id",
            "decision_seconds",
        ),
        sa.Index(
            f"ix_{table}_published_cover",
            "status",
            "published_at",
            "team_id",
            *published_extra,
            "approved_at",
            "publication_seconds",
        ),
        # Medians over a long period read these in order (no sort of a year of values).
        sa.Index(f"ix_{table}_decision_seconds", "decision_seconds", "decided_at", "team_id"),
        sa.Index(
            f"ix_{table}_publication_seconds", "publication_seconds", "published_at", "team_id"
        ),
    )


class SubmissionStatus(LabeledEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class QuoteSource(StrEnum):
    SURVEY = "survey"
    EMAIL = "email"
    CALL = "call"
    CHAT = "chat"
    REVIEW_SITE = "review_site"
    SOCIAL_MEDIA = "social_media"
    IN_PERSON = "in_person"

    @property
    def label(self) -> str:
        return QUOTE_SOURCE_LABELS[self]


QUOTE_SOURCE_LABELS = {
    QuoteSource.SURVEY: "Survey / NPS",
    QuoteSource.EMAIL: "Email",
    QuoteSource.CALL: "Call",
    QuoteSource.CHAT: "Chat",
    QuoteSource.REVIEW_SITE: "Review site",
    QuoteSource.SOCIAL_MEDIA: "Social media",
    QuoteSource.IN_PERSON: "In person",
}

story_tags = sa.Table(
    "story_tags",
    Base.metadata,
    sa.Column("story_id", sa.ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag_id", sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    sa.Index("ix_story_tags_tag_id", "tag_id"),
)


class Touchpoint(Base):
    """Where the customer met the company; an admin-editable list (store, phone, chat, ...)."""

    __tablename__ = "touchpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True)
    label: Mapped[str] = mapped_column(sa.String(80))
    position: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Lower-cased, so "Loyalty" and "loyalty" are one tag.
    name: Mapped[str] = mapped_column(sa.String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubmissionMixin:
    """Fields shared by stories and quotes: who, workflow status, timestamps, optimistic lock."""

    status: Mapped[SubmissionStatus] = mapped_column(
        enum_column(SubmissionStatus), default=SubmissionStatus.DRAFT
    )
    version: Mapped[int] = mapped_column(default=1)
    # Latest editor feedback shown to the author (changes requested / rejection reason).
    editor_note: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Stored durations for the insights medians (app/insights/queries.py): a year of them is read
    # from an index in order instead of computing a date difference per row. Kept in step with
    # the timestamps by `_keep_durations` below, whoever sets them.
    decision_seconds: Mapped[int | None] = mapped_column(sa.BigInteger)
    publication_seconds: Mapped[int | None] = mapped_column(sa.BigInteger)

    @declared_attr
    def author_id(cls) -> Mapped[int]:  # noqa: N805
        return mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)

    @declared_attr
    def team_id(cls) -> Mapped[int | None]:  # noqa: N805
        return mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"))

    @declared_attr
    def author(cls) -> Mapped[User]:  # noqa: N805
        return relationship(User, foreign_keys=lambda: [cls.author_id])

    @declared_attr
    def team(cls) -> Mapped[Team | None]:  # noqa: N805
        return relationship(Team, foreign_keys=lambda: [cls.team_id])

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805
        # UPDATE ... WHERE version = :old guards against lost updates between concurrent editors.
        return {"version_id_col": cls.version}

    @property
    def is_editable_by_author(self) -> bool:
        return self.status in (
            SubmissionStatus.DRAFT,
            SubmissionStatus.SUBMITTED,
            SubmissionStatus.CHANGES_REQUESTED,
        )


class Story(SubmissionMixin, Base):
    __tablename__ = "stories"
    kind = "story"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(150))
    body_md: Mapped[str] = mapped_column(sa.Text)
    # Rendered and sanitized once, at save time (app.richtext), never per request.
    body_html: Mapped[str] = mapped_column(sa.Text)
    touchpoint_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("touchpoints.id", ondelete="SET NULL")
    )
    customer_name: Mapped[str | None] = mapped_column(sa.String(120))
    customer_organization: Mapped[str | None] = mapped_column(sa.String(120))
    # Shown instead of the name when the customer did not consent, e.g. "retail banking".
    customer_segment: Mapped[str | None] = mapped_column(sa.String(120))
    customer_consent: Mapped[bool] = mapped_column(default=False)
    cover_image: Mapped[str | None] = mapped_column(sa.String(80))
    cover_image_alt: Mapped[str | None] = mapped_column(sa.String(200))

    touchpoint: Mapped[Touchpoint | None] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=story_tags, order_by=Tag.name)
    recognitions: Mapped[list[Recognition]] = relationship(
        back_populates="story",
        cascade="all, delete-orphan",
        order_by="Recognition.position",
    )
    edition_items: Mapped[list[EditionItem]] = relationship(back_populates="story")

    __table_args__ = (
        sa.Index("ix_stories_status_created_at", "status", "created_at"),
        sa.Index("ix_stories_status_published_at", "status", "published_at"),
        sa.Index("ix_stories_team_id", "team_id"),
        sa.Index("ix_stories_touchpoint_id", "touchpoint_id"),
        *insights_indexes("stories", published_extra=("touchpoint_id",)),
    )

    @property
    def customer_display(self) -> str:
        """How the customer is named on every page and email: anonymised without consent."""
        if self.customer_consent and (self.customer_name or self.customer_organization):
            parts = [p for p in (self.customer_name, self.customer_organization) if p]
            return ", ".join(parts)
        if self.customer_segment:
            return f"a customer in {self.customer_segment}"
        return "a customer"

    def __repr__(self) -> str:
        return f"<Story {self.id} {self.status}>"


class Recognition(Base):
    """A colleague recognized in a story: an account, or a free-text name for people without one."""

    __tablename__ = "recognitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    story_id: Mapped[int] = mapped_column(sa.ForeignKey("stories.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(sa.String(120))
    position: Mapped[int] = mapped_column(default=0)

    story: Mapped[Story] = relationship(back_populates="recognitions")
    user: Mapped[User | None] = relationship(back_populates="recognitions", foreign_keys=[user_id])

    __table_args__ = (
        sa.CheckConstraint(
            "(user_id IS NOT NULL AND name IS NULL) OR (user_id IS NULL AND name IS NOT NULL)",
            name="user_or_name",
        ),
        sa.UniqueConstraint("story_id", "user_id"),
        sa.Index("ix_recognitions_user_id", "user_id"),
    )

    @property
    def display_name(self) -> str:
        return self.user.display_name if self.user else (self.name or "")


class Quote(SubmissionMixin, Base):
    __tablename__ = "quotes"
    kind = "quote"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(sa.Text)
    text_html: Mapped[str] = mapped_column(sa.Text)
    anonymous: Mapped[bool] = mapped_column(default=False)
    customer_name: Mapped[str | None] = mapped_column(sa.String(120))
    customer_role: Mapped[str | None] = mapped_column(sa.String(120))
    customer_organization: Mapped[str | None] = mapped_column(sa.String(120))
    customer_consent: Mapped[bool] = mapped_column(default=False)
    source: Mapped[QuoteSource] = mapped_column(enum_column(QuoteSource))
    nps_score: Mapped[int | None] = mapped_column()
    received_on: Mapped[date] = mapped_column(sa.Date)
    story_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stories.id", ondelete="SET NULL"))

    story: Mapped[Story | None] = relationship(foreign_keys=[story_id])
    edition_items: Mapped[list[EditionItem]] = relationship(back_populates="quote")

    __table_args__ = (
        sa.CheckConstraint(
            "nps_score IS NULL OR (nps_score >= 0 AND nps_score <= 10)", name="nps_range"
        ),
        sa.Index("ix_quotes_status_created_at", "status", "created_at"),
        sa.Index("ix_quotes_status_published_at", "status", "published_at"),
        *insights_indexes("quotes", submitted_extra=("source", "nps_score")),
    )

    @property
    def attribution(self) -> str:
        """Who said it, as shown to readers: anonymous unless the customer agreed."""
        if self.anonymous or not self.customer_consent:
            return "A customer" + (f" ({self.source.label})" if self.source else "")
        parts = [
            p for p in (self.customer_name, self.customer_role, self.customer_organization) if p
        ]
        return ", ".join(parts) or "A customer"

    def __repr__(self) -> str:
        return f"<Quote {self.id} {self.status}>"


class Revision(Base):
    """A snapshot of a story or quote after an edit, so editors' changes have a readable diff."""

    __tablename__ = "revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    object_type: Mapped[str] = mapped_column(sa.String(16))
    object_id: Mapped[int] = mapped_column()
    number: Mapped[int] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # True once the author has been told about this editor change (sent with "published").
    author_notified: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[User | None] = relationship()

    __table_args__ = (sa.UniqueConstraint("object_type", "object_id", "number"),)


def seconds_between(later: datetime | None, earlier: datetime | None) -> int | None:
    """Whole seconds from `earlier` to `later`; None when either is missing or they are out of
    order (a decision older than the latest submission answers an earlier round)."""
    if later is None or earlier is None:
        return None
    seconds = int((later - earlier).total_seconds())
    return seconds if seconds >= 0 else None


@sa.event.listens_for(SubmissionMixin, "before_insert", propagate=True)
@sa.event.listens_for(SubmissionMixin, "before_update", propagate=True)
def _keep_durations(_mapper: Any, _connection: Any, item: SubmissionMixin) -> None:
    item.decision_seconds = seconds_between(item.decided_at, item.submitted_at)
    item.publication_seconds = seconds_between(item.published_at, item.approved_at)
