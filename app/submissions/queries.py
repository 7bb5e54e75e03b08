"""Reads for the submission pages: who may see what, "My submissions", pickers and choices."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.errors import NotFound
from app.errors import PermissionDenied
from app.extensions import db
from app.models import EditionItem
from app.models import EditionStatus
from app.models import Quote
from app.models import Recognition
from app.models import Story
from app.models import SubmissionStatus
from app.models import Tag
from app.models import Team
from app.models import Touchpoint
from app.models import User
from app.models import story_tags

COLLEAGUE_RESULTS = 10
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")  # never valid in a search; NUL breaks PostgreSQL

_STORY_LOAD = (
    selectinload(Story.recognitions).selectinload(Recognition.user),
    selectinload(Story.tags),
    selectinload(Story.team),
    selectinload(Story.touchpoint),
    selectinload(Story.author),
    selectinload(Story.edition_items).selectinload(EditionItem.edition),
)
_QUOTE_LOAD = (
    selectinload(Quote.story),
    selectinload(Quote.author),
    selectinload(Quote.edition_items).selectinload(EditionItem.edition),
)


def may_view(item: Story | Quote, viewer: User) -> bool:
    """Authors see their own items in any status; editors see what was ever sent to review.

    A draft (never submitted, `submitted_at` unset) belongs to its author alone, even if it was
    later withdrawn.
    """
    if item.author_id == viewer.id:
        return True
    return viewer.is_editor and item.submitted_at is not None


def _get(model: type[Story] | type[Quote], item_id: int, options) -> Story | Quote:
    item = db.session.scalar(sa.select(model).where(model.id == item_id).options(*options))
    if item is None:
        raise NotFound(f"There is no such {model.kind}.")
    return item


def viewable_story(story_id: int, viewer: User) -> Story:
    """The story for the author's view; NotFound hides other people's drafts entirely."""
    story = _get(Story, story_id, _STORY_LOAD)
    if not may_view(story, viewer):
        raise NotFound("There is no such story.")
    return story  # type: ignore[return-value]


def viewable_quote(quote_id: int, viewer: User) -> Quote:
    quote = _get(Quote, quote_id, _QUOTE_LOAD)
    if not may_view(quote, viewer):
        raise NotFound("There is no such quote.")
    return quote  # type: ignore[return-value]


def own_story(story_id: int, actor: User) -> Story:
    """A story to edit or withdraw: someone else's is a 403, whatever its status."""
    story = _get(Story, story_id, _STORY_LOAD)
    if story.author_id != actor.id:
        raise PermissionDenied("Only the person who shared this story can change it.")
    return story  # type: ignore[return-value]


def own_quote(quote_id: int, actor: User) -> Quote:
    quote = _get(Quote, quote_id, _QUOTE_LOAD)
    if quote.author_id != actor.id:
        raise PermissionDenied("Only the person who shared this quote can change it.")
    return quote  # type: ignore[return-value]


# -- My submissions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EditionRef:
    number: int
    sent: bool
    sent_at: datetime | None


@dataclass(frozen=True)
class SubmissionRow:
    item: Story | Quote
    edition: EditionRef | None  # sent edition it appeared in, else the one it is lined up for

    @property
    def kind(self) -> str:
        return self.item.kind

    @property
    def shows_feedback(self) -> bool:
        return bool(self.item.editor_note) and self.item.status in (
            SubmissionStatus.CHANGES_REQUESTED,
            SubmissionStatus.REJECTED,
        )


def edition_for(item: Story | Quote) -> EditionRef | None:
    """The sent edition an item appeared in; failing that, a draft/scheduled one it is in."""
    editions = [ei.edition for ei in item.edition_items]
    sent = [e for e in editions if e.status == EditionStatus.SENT]
    if sent:
        first = min(sent, key=lambda e: e.number)
        return EditionRef(first.number, True, first.sent_at)
    planned = [e for e in editions if e.status in (EditionStatus.DRAFT, EditionStatus.SCHEDULED)]
    if planned and item.status == SubmissionStatus.APPROVED:
        nxt = min(planned, key=lambda e: e.number)
        return EditionRef(nxt.number, False, None)
    return None


def my_submissions(user: User) -> list[SubmissionRow]:
    """The person's stories and quotes, most recently changed first, in a fixed number of
    queries whatever their count (eager loads, no per-row lookups)."""
    story_load = (
        selectinload(Story.edition_items).selectinload(EditionItem.edition),
        selectinload(Story.recognitions).selectinload(Recognition.user),
    )
    stories = db.session.scalars(
        sa.select(Story).where(Story.author_id == user.id).options(*story_load)
    ).all()
    quotes = db.session.scalars(
        sa.select(Quote)
        .where(Quote.author_id == user.id)
        .options(selectinload(Quote.edition_items).selectinload(EditionItem.edition))
    ).all()
    items: list[Story | Quote] = [*stories, *quotes]
    items.sort(key=lambda i: (i.updated_at, i.created_at, i.id), reverse=True)
    return [SubmissionRow(item, edition_for(item)) for item in items]


# -- pickers and choices -------------------------------------------------------------------------


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_colleagues(term: str, limit: int = COLLEAGUE_RESULTS) -> list[User]:
    """Active people whose name or email contains `term` (case-insensitive), names first A-Z."""
    term = " ".join(_CONTROL_RE.sub("", term or "").split())[:100]
    if not term:
        return []
    pattern = _like(term)
    starts = sa.or_(
        sa.func.lower(User.display_name).startswith(term.lower(), autoescape=True),
        User.email.startswith(term.lower(), autoescape=True),
    )
    return list(
        db.session.scalars(
            sa.select(User)
            .where(
                User.is_active_user.is_(True),
                sa.or_(
                    User.display_name.ilike(pattern, escape="\\"),
                    User.email.ilike(pattern, escape="\\"),
                ),
            )
            .options(selectinload(User.team))
            .order_by(sa.case((starts, 0), else_=1), User.display_name, User.id)
            .limit(limit)
        )
    )


def active_user(user_id: int | None) -> User | None:
    """An active account by id (None for no id, an unknown one or a deactivated one)."""
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    return user if user is not None and user.is_active_user else None


def users_by_email(emails: list[str]) -> dict[str, User]:
    """Accounts for the given addresses (any status: the service decides who is usable)."""
    wanted = {User.normalize_email(e) for e in emails if e.strip() and len(e) <= 254}
    if not wanted:
        return {}
    return {u.email: u for u in db.session.scalars(sa.select(User).where(User.email.in_(wanted)))}


def team_choices() -> list[tuple[int, str]]:
    rows = db.session.execute(sa.select(Team.id, Team.name).order_by(Team.name))
    return [(team_id, name) for team_id, name in rows]


def touchpoint_choices(keep_id: int | None = None) -> list[tuple[int, str]]:
    """Active touchpoints, plus the story's current one if an admin retired it since."""
    condition = Touchpoint.is_active.is_(True)
    if keep_id is not None:
        condition = sa.or_(condition, Touchpoint.id == keep_id)
    rows = db.session.execute(
        sa.select(Touchpoint.id, Touchpoint.label)
        .where(condition)
        .order_by(Touchpoint.position, Touchpoint.label)
    )
    return [(touchpoint_id, label) for touchpoint_id, label in rows]


def popular_tags(limit: int = 12) -> list[str]:
    """The most used tag names, as suggestions next to the tag field."""
    count = sa.func.count(story_tags.c.story_id)
    rows = db.session.execute(
        sa.select(Tag.name)
        .join(story_tags, story_tags.c.tag_id == Tag.id)
        .group_by(Tag.id, Tag.name)
        .order_by(count.desc(), Tag.name)
        .limit(limit)
    ).scalars()
    return list(rows)


def linkable_stories(user: User, keep_id: int | None = None) -> list[tuple[int, str]]:
    """Stories a quote may point at in the form: the person's own (not withdrawn)."""
    condition = sa.and_(Story.author_id == user.id, Story.status != SubmissionStatus.WITHDRAWN)
    if keep_id is not None:
        condition = sa.or_(condition, Story.id == keep_id)
    rows = db.session.execute(
        sa.select(Story.id, Story.title).where(condition).order_by(Story.created_at.desc())
    )
    return [(story_id, title) for story_id, title in rows]


def referenced_cover_images() -> set[str]:
    """Every stored cover image name still in use (for `uploads.prune_orphaned_uploads`)."""
    return set(
        db.session.scalars(sa.select(Story.cover_image).where(Story.cover_image.is_not(None)))
    )

