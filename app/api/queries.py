"""Reads the API's read resources need beyond the reading feature's own (app/reading/queries.py).

The web's queries answer one page shape each (a team's stories, a tag's, a person's); the API
combines filters and returns whole stories, so its lists are ORM statements here, narrowed by
the same rule (published only) and completed in a fixed number of batched queries per page
(eager loads plus `story_extras` / `quote_editions` / `people_counts`), never one per item.
Naming the customer and the colleagues stays the models' own rule (`Story.customer_display`,
`Quote.attribution`), so the API can never show more than the web.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from sqlalchemy.orm import selectinload

from app.editions.queries import QUOTE_LOAD
from app.editions.queries import STORY_LOAD
from app.extensions import db
from app.models import Comment
from app.models import Edition
from app.models import EditionItem
from app.models import EditionStatus
from app.models import Quote
from app.models import Reaction
from app.models import Recognition
from app.models import Story
from app.models import SubmissionStatus
from app.models import Tag
from app.models import Touchpoint
from app.models import User
from app.models import story_tags

PUBLISHED = SubmissionStatus.PUBLISHED


# --------------------------------------------------------------------------- stories


@dataclass(frozen=True, slots=True)
class StoryFilters:
    team_id: int | None = None
    touchpoint_id: int | None = None
    touchpoint_slug: str | None = None
    tag: str | None = None
    colleague_id: int | None = None
    published_after: datetime | None = None
    published_before: datetime | None = None


def published_stories(filters: StoryFilters | None = None) -> sa.Select:
    """Published stories passing `filters`, with everything a story's representation shows
    loaded eagerly (a fixed number of queries per page)."""
    f = filters or StoryFilters()
    statement = (
        sa.select(Story)
        .where(Story.status == PUBLISHED, Story.published_at.is_not(None))
        .options(
            joinedload(Story.author).joinedload(User.team),
            joinedload(Story.team),
            joinedload(Story.touchpoint),
            selectinload(Story.tags),
            selectinload(Story.recognitions).joinedload(Recognition.user).joinedload(User.team),
        )
    )
    if f.team_id is not None:
        statement = statement.where(Story.team_id == f.team_id)
    if f.touchpoint_id is not None:
        statement = statement.where(Story.touchpoint_id == f.touchpoint_id)
    if f.touchpoint_slug is not None:
        statement = statement.where(
            Story.touchpoint_id.in_(
                sa.select(Touchpoint.id).where(Touchpoint.slug == f.touchpoint_slug)
            )
        )
    if f.tag is not None:
        statement = statement.where(
            sa.exists().where(
                story_tags.c.story_id == Story.id,
                story_tags.c.tag_id == Tag.id,
                Tag.name == f.tag,
            )
        )
    if f.colleague_id is not None:
        statement = statement.where(
            sa.exists().where(
                Recognition.story_id == Story.id, Recognition.user_id == f.colleague_id
            )
        )
    if f.published_after is not None:
        statement = statement.where(Story.published_at >= f.published_after)
    if f.published_before is not None:
        statement = statement.where(Story.published_at < f.published_before)
    return statement


def published_story(story_id: int) -> Story | None:
    """One published story (None for a draft, a rejected or a missing one alike)."""
    statement = published_stories().where(Story.id == story_id)
    return db.session.execute(statement).scalars().unique().first()


@dataclass(slots=True)
class StoryExtras:
    applause: int = 0
    comments: int = 0
    edition_id: int | None = None  # the first sent edition that carried it
    edition_number: int | None = None


def story_extras(story_ids: Sequence[int]) -> dict[int, StoryExtras]:
    """Applause, visible comments and first sent edition of each story, in one query."""
    extras = {i: StoryExtras() for i in story_ids}
    if not extras:
        return extras
    ids = list(extras)
    zero = sa.literal(0)
    union = sa.union_all(
        sa.select(zero.label("part"), Reaction.story_id.label("story_id"),
                  sa.func.count().label("value"), zero.label("number"))
        .where(Reaction.story_id.in_(ids)).group_by(Reaction.story_id),
        sa.select(sa.literal(1), Comment.story_id, sa.func.count(), zero)
        .where(Comment.story_id.in_(ids), Comment.removed_at.is_(None))
        .group_by(Comment.story_id),
        sa.select(sa.literal(2), EditionItem.story_id, Edition.id, Edition.number)
        .join(Edition, Edition.id == EditionItem.edition_id)
        .where(EditionItem.story_id.in_(ids), Edition.status == EditionStatus.SENT),
    )  # fmt: skip
    for part, story_id, value, number in db.session.execute(union):
        extra = extras[story_id]
        if part == 0:
            extra.applause = int(value)
        elif part == 1:
            extra.comments = int(value)
        elif extra.edition_number is None or number < extra.edition_number:
            extra.edition_id, extra.edition_number = int(value), int(number)
    return extras


# --------------------------------------------------------------------------- quotes


def published_quotes(
    team_id: int | None = None,
    published_after: datetime | None = None,
    published_before: datetime | None = None,
) -> sa.Select:
    statement = (
        sa.select(Quote)
        .where(Quote.status == PUBLISHED, Quote.published_at.is_not(None))
        .options(joinedload(Quote.team), joinedload(Quote.story))
    )
    if team_id is not None:
        statement = statement.where(Quote.team_id == team_id)
    if published_after is not None:
        statement = statement.where(Quote.published_at >= published_after)
    if published_before is not None:
        statement = statement.where(Quote.published_at < published_before)
    return statement


def published_quote(quote_id: int) -> Quote | None:
    statement = published_quotes().where(Quote.id == quote_id)
    return db.session.execute(statement).scalars().unique().first()


def quote_editions(quote_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(edition id, number) of the first sent edition that carried each quote, in one query."""
    if not quote_ids:
        return {}
    rows = db.session.execute(
        sa.select(EditionItem.quote_id, Edition.id, Edition.number)
        .join(Edition, Edition.id == EditionItem.edition_id)
        .where(EditionItem.quote_id.in_(list(quote_ids)), Edition.status == EditionStatus.SENT)
    )
    found: dict[int, tuple[int, int]] = {}
    for quote_id, edition_id, number in rows:
        if quote_id not in found or number < found[quote_id][1]:
            found[quote_id] = (edition_id, number)
    return found


# --------------------------------------------------------------------------- editions


def sent_editions() -> sa.Select:
    """Editions that went out (a draft, scheduled, sending or skipped one is nobody's to read
    through the API)."""
    return sa.select(Edition).where(Edition.status == EditionStatus.SENT)


def sent_edition(edition_id: int) -> Edition | None:
    return db.session.scalar(
        sent_editions().where(Edition.id == edition_id).options(selectinload(Edition.items))
    )


def edition_item_counts(edition_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(stories, quotes) per edition, in one query."""
    if not edition_ids:
        return {}
    rows = db.session.execute(
        sa.select(EditionItem.edition_id, sa.func.count(EditionItem.story_id),
                  sa.func.count(EditionItem.quote_id))
        .where(EditionItem.edition_id.in_(list(edition_ids)))
        .group_by(EditionItem.edition_id)
    )  # fmt: skip
    return {edition_id: (int(s), int(q)) for edition_id, s, q in rows}


# --------------------------------------------------------------------------- people


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def active_people(team_id: int | None = None, name_prefix: str | None = None) -> sa.Select:
    """Active accounts (the people a reader can still recognize), optionally of one team or
    whose name starts with `name_prefix` (case-insensitive)."""
    statement = (
        sa.select(User).where(User.is_active_user.is_(True)).options(joinedload(User.team))
    )
    if team_id is not None:
        statement = statement.where(User.team_id == team_id)
    if name_prefix:
        pattern = _escape_like(name_prefix.lower()) + "%"
        statement = statement.where(sa.func.lower(User.display_name).like(pattern, escape="\\"))
    return statement


@dataclass(frozen=True, slots=True)
class PersonCounts:
    """The person page's record (app.reading.queries.person_profile): published stories
    recognizing them, published stories they shared, applause for the former."""

    recognized: int = 0
    shared: int = 0
    applause_received: int = 0


def people_counts(user_ids: Sequence[int]) -> dict[int, PersonCounts]:
    """PersonCounts for many people in one query (the same definitions as the person page)."""
    if not user_ids:
        return {}
    ids = list(dict.fromkeys(user_ids))
    published = Story.status == PUBLISHED
    zero = sa.literal(0)
    union = sa.union_all(
        sa.select(zero.label("part"), Recognition.user_id.label("user_id"),
                  sa.func.count().label("n"))
        .join(Story, Story.id == Recognition.story_id)
        .where(Recognition.user_id.in_(ids), published).group_by(Recognition.user_id),
        sa.select(sa.literal(1), Story.author_id, sa.func.count())
        .where(Story.author_id.in_(ids), published).group_by(Story.author_id),
        sa.select(sa.literal(2), Recognition.user_id, sa.func.count(Reaction.id))
        .join(Story, Story.id == Recognition.story_id)
        .join(Reaction, Reaction.story_id == Story.id)
        .where(Recognition.user_id.in_(ids), published).group_by(Recognition.user_id),
    )  # fmt: skip
    values: dict[int, list[int]] = {i: [0, 0, 0] for i in ids}
    for part, user_id, n in db.session.execute(union):
        values[user_id][part] = int(n)
    return {i: PersonCounts(*v) for i, v in values.items()}


def person(user_id: int) -> User | None:
    return db.session.scalar(
        sa.select(User).where(User.id == user_id).options(joinedload(User.team))
    )


# --------------------------------------------------------------------------- submissions
# The write side's reads (app/api/submissions.py): one's own items in any status, the review
# queue, and an item for review, with everything their full representation touches.

_STORY_EDITIONS = selectinload(Story.edition_items).selectinload(EditionItem.edition)
_QUOTE_EDITIONS = selectinload(Quote.edition_items).selectinload(EditionItem.edition)
# The author's card includes their team.
_STORY_FULL = (*STORY_LOAD, _STORY_EDITIONS, joinedload(Story.author).selectinload(User.team))
_QUOTE_FULL = (*QUOTE_LOAD, _QUOTE_EDITIONS, joinedload(Quote.author).selectinload(User.team))


def submission(model: type[Story] | type[Quote], item_id: int) -> Story | Quote | None:
    """A story or quote in any status, fully loaded (who may see it is the view's rule)."""
    options = _STORY_FULL if model is Story else _QUOTE_FULL
    return db.session.scalars(
        sa.select(model).where(model.id == item_id).options(*options)
    ).unique().one_or_none()


def review_queue(model: type[Story] | type[Quote], status: SubmissionStatus,
                 team_id: int | None) -> sa.Select:
    """Items sent to the editors, in `status` (optionally one team's), fully loaded; keyset
    order: (submitted_at, id) ascending, oldest first like the review page."""
    statement = sa.select(model).where(model.status == status, model.submitted_at.is_not(None))
    if team_id is not None:
        statement = statement.where(model.team_id == team_id)
    return statement.options(*(_STORY_FULL if model is Story else _QUOTE_FULL))


def my_submissions(
    user_id: int, status: SubmissionStatus | None, kind: str | None
) -> tuple[sa.Select, list[tuple[sa.ColumnElement, bool]]]:
    """One person's stories and quotes (`kind` None: both) as (kind, id, created_at) rows, and
    the keyset order for them (newest first): pass both to app.api.pagination.keyset with
    `rows=True`, then `submissions_by_ref` for the items."""
    selects = []
    for model in (Story, Quote):
        if kind not in (None, model.kind):
            continue
        select = sa.select(
            sa.literal(model.kind, sa.String(8)).label("kind"), model.id.label("id"),
            model.created_at.label("created_at"),
        ).where(model.author_id == user_id)
        if status is not None:
            select = select.where(model.status == status)
        selects.append(select)
    union = (selects[0] if len(selects) == 1 else sa.union_all(*selects)).subquery()
    order = [(union.c.created_at, True), (union.c.kind, True), (union.c.id, True)]
    return sa.select(union.c.kind, union.c.id, union.c.created_at), order


def submissions_by_ref(refs: Sequence[tuple[str, int]]) -> list[Story | Quote]:
    """The items named by (kind, id) pairs, in that order, with their editions (two queries
    at most, whatever the number)."""
    found: dict[tuple[str, int], Story | Quote] = {}
    for model, load in ((Story, _STORY_EDITIONS), (Quote, _QUOTE_EDITIONS)):
        ids = [i for k, i in refs if k == model.kind]
        if ids:
            for item in db.session.scalars(
                sa.select(model).where(model.id.in_(ids)).options(load)
            ):
                found[(model.kind, item.id)] = item
    return [found[ref] for ref in refs if ref in found]
