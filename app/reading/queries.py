"""Reads for the reading pages. Each function issues a fixed number of queries, whatever the
number of items: lists are fetched in one query per page and their cards completed in three
batched ones (colleagues, tags, applause), never one query per item.

Only published stories and quotes are ever returned, except by `story_status`, which the story
page uses to decide between showing, redirecting and 404.

Statements are built per call with values as bind parameters, so SQLAlchemy's compiled cache
serves them; keeping the built statements too (`functools.cache`) made no measurable difference
to the pages (docs/performance.md, "Pages"), since they are remembered by `app.reading.cache`.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import datetime
from datetime import timedelta
from datetime import tzinfo
from functools import cache
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from markupsafe import Markup
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased

from app.extensions import db
from app.models import Edition
from app.models import EditionItem
from app.models import EditionStatus
from app.models import Quote
from app.models import Reaction
from app.models import Recognition
from app.models import Story
from app.models import SubmissionStatus
from app.models import Tag
from app.models import Team
from app.models import Touchpoint
from app.models import User
from app.models import story_tags
from app.reading import search
from app.reading.pagination import Page
from app.reading.pagination import Window
from app.reading.pagination import decode
from app.reading.pagination import fetch_page
from app.richtext import excerpt

PUBLISHED = SubmissionStatus.PUBLISHED
PAGE_SIZE = 12
EXCERPT_LENGTH = 220
EXCERPT_LINES = 4  # .story-card__excerpt's line clamp (app.css)
# Enough HTML for any excerpt: a long story's body is never sent over the wire for a card.
EXCERPT_SOURCE_CHARS = 2000


def _conn() -> sa.Connection:
    """The session's connection (same transaction), after flushing pending changes."""
    db.session.flush()
    return db.session.connection()


class _Unindexed(sa.sql.expression.ColumnElement[Any]):
    """A column SQLite must not pick an index for (compiled `+column`; plain elsewhere).

    Without ANALYZE statistics SQLite assumes `status = 'published'` is selective, because
    several indexes start with `status`, and walks every published story to find one person's
    dozen. Writing the test as `+stories.status` steers it to the person's, author's or tag's
    own index instead. PostgreSQL plans from real statistics and sees the plain column.
    """

    inherit_cache = True
    _traverse_internals = [("column", sa.sql.visitors.InternalTraversal.dp_clauseelement)]

    def __init__(self, column: sa.ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(_Unindexed)
def _compile_unindexed(element: _Unindexed, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


@compiles(_Unindexed, "sqlite")
def _compile_unindexed_sqlite(element: _Unindexed, compiler: Any, **kw: Any) -> str:
    return "+" + compiler.process(element.column, **kw)


def _published(model: type[Story] | type[Quote], *, indexed: bool) -> sa.ColumnElement[bool]:
    return (model.status if indexed else _Unindexed(model.status)) == PUBLISHED


def _ids(name: str = "ids") -> sa.BindParameter[Any]:
    return sa.bindparam(name, expanding=True)


def _limit() -> sa.BindParameter[int]:
    return sa.bindparam("limit", type_=sa.Integer, literal_execute=True)


# --------------------------------------------------------------------------- cards


@dataclass(frozen=True, slots=True)
class Colleague:
    """Someone recognized in a story: an account (linked) or a free-text name (not linked)."""

    name: str
    user_id: int | None = None
    photo: str | None = None  # the account's photo key (app.photos), None for initials


@dataclass(slots=True)
class StoryCard:
    id: int
    title: str
    excerpt: str
    author_id: int
    author_name: str
    team_id: int | None
    team_name: str | None
    touchpoint_slug: str | None
    touchpoint_label: str | None
    published_at: datetime | None
    colleagues: list[Colleague] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    applause: int = 0
    # The cover picture's stored name and its description (required with a picture).
    cover_image: str | None = None
    cover_alt: str | None = None
    # Set for search results: highlighted title and snippet (already escaped, then marked).
    title_html: Markup | None = None
    snippet_html: Markup | None = None

    # Rendered HTML by (time zone, heading level, script root): see views.card_html.
    rendered: dict[tuple[str, int, str], Markup] = field(
        default_factory=dict, compare=False, repr=False
    )


@dataclass(frozen=True, slots=True)
class QuoteCard:
    id: int
    text: str
    attribution: str
    source_label: str
    nps: int | None
    story_id: int | None
    published_at: datetime | None
    snippet_html: Markup | None = None


@lru_cache(maxsize=8192)
def card_excerpt(body_html: str) -> str:
    """Plain-text teaser, its lines kept ("• item"), at most as many as a card shows (the
    CSS clamp); cached by content, because sanitizing HTML on every view adds up."""
    return excerpt(body_html, EXCERPT_LENGTH, is_html=True, max_lines=EXCERPT_LINES)


def _card_select(*, by_date: bool = True) -> sa.Select:
    """Base rows of published story cards. `by_date=False` when another condition (ids, a
    person, an author, a tag) narrows the stories better than the publication-date index."""
    return (
        sa.select(
            Story.id,
            Story.title,
            sa.func.substr(Story.body_html, 1, EXCERPT_SOURCE_CHARS).label("body_start"),
            Story.author_id,
            User.display_name.label("author_name"),
            Story.team_id,
            Team.name.label("team_name"),
            Touchpoint.slug.label("touchpoint_slug"),
            Touchpoint.label.label("touchpoint_label"),
            Story.published_at,
            Story.cover_image,
            Story.cover_image_alt,
        )
        .join(User, User.id == Story.author_id)
        .outerjoin(Team, Team.id == Story.team_id)
        .outerjoin(Touchpoint, Touchpoint.id == Story.touchpoint_id)
        .where(_published(Story, indexed=by_date))
    )


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _cards_by_id() -> sa.Select:
    return _card_select(by_date=False).where(Story.id.in_(_ids()))


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _card_parts() -> sa.CompoundSelect:
    """Colleagues (part 0, in story order), tags (1, by name) and applause counts (2) of the
    stories in `ids`, as one query: one round trip completes any number of cards."""
    ids = _ids()
    no_int, no_text = sa.cast(sa.null(), sa.Integer), sa.cast(sa.null(), sa.String)
    colleagues = (
        sa.select(
            sa.literal(0).label("part"),
            Recognition.story_id.label("story_id"),
            Recognition.position.label("ord"),
            Recognition.id.label("tiebreak"),
            Recognition.user_id.label("number"),
            sa.func.coalesce(User.display_name, Recognition.name).label("text"),
            User.photo_key.label("photo"),
        )
        .outerjoin(User, User.id == Recognition.user_id)
        .where(Recognition.story_id.in_(ids))
    )
    tags = (
        sa.select(
            sa.literal(1), story_tags.c.story_id, sa.literal(0), sa.literal(0), no_int, Tag.name,
            no_text,
        )
        .join(Tag, Tag.id == story_tags.c.tag_id)
        .where(story_tags.c.story_id.in_(ids))
    )
    applause = (
        sa.select(
            sa.literal(2),
            Reaction.story_id,
            sa.literal(0),
            sa.literal(0),
            sa.cast(sa.func.count(), sa.Integer),
            no_text,
            no_text,
        )
        .where(Reaction.story_id.in_(ids))
        .group_by(Reaction.story_id)
    )
    union = sa.union_all(colleagues, tags, applause)
    c = union.selected_columns
    return union.order_by(c.part, c.story_id, c.ord, c.tiebreak, c.text)


def _complete(rows: Sequence[Any], *, always: bool = False) -> list[StoryCard]:
    """Cards for base rows, completed with colleagues, tags and applause in one more query
    (skipped when there are no rows, unless `always`: see `search_results`)."""
    cards = [
        StoryCard(
            id=r.id,
            title=r.title,
            excerpt=card_excerpt(r.body_start or ""),
            author_id=r.author_id,
            author_name=r.author_name,
            team_id=r.team_id,
            team_name=r.team_name,
            touchpoint_slug=r.touchpoint_slug,
            touchpoint_label=r.touchpoint_label,
            published_at=r.published_at,
            cover_image=r.cover_image,
            cover_alt=r.cover_image_alt,
        )
        for r in rows
    ]
    if not cards and not always:
        return cards
    by_id = {card.id: card for card in cards}
    # No ids: an id that cannot exist keeps the IN list non-empty (an empty one scans).
    for r in _conn().execute(_card_parts(), {"ids": list(by_id) or [0]}):
        card = by_id[r.story_id]
        if r.part == 0:
            card.colleagues.append(Colleague(r.text, r.number, r.photo))
        elif r.part == 1:
            card.tags.append(r.text)
        else:
            card.applause = r.number
    return cards


def story_cards(ids: Iterable[int], *, always: bool = False) -> list[StoryCard]:
    """Published stories by id, in the order given (missing or unpublished ones dropped)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted and not always:
        return []
    rows = _conn().execute(_cards_by_id(), {"ids": wanted or [0]}).all()
    cards = {c.id: c for c in _complete(rows, always=always)}
    return [cards[i] for i in wanted if i in cards]


_QUOTE_COLUMNS = (
    Quote.id, Quote.text, Quote.anonymous, Quote.customer_name, Quote.customer_role,
    Quote.customer_organization, Quote.customer_consent, Quote.source, Quote.nps_score,
    Quote.story_id, Quote.published_at,
)  # fmt: skip


def _quote_card(row: Any) -> QuoteCard:
    # The model's own rule for naming the customer, applied to the row's columns.
    attribution = Quote.attribution.fget(row)
    return QuoteCard(
        id=row.id,
        text=row.text,
        attribution=attribution,
        # An anonymous attribution already names the source ("A customer (Survey / NPS)").
        source_label="" if row.source.label in attribution else row.source.label,
        nps=row.nps_score,
        story_id=row.story_id,
        published_at=row.published_at,
    )


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _quotes_by_id() -> sa.Select:
    return sa.select(*_QUOTE_COLUMNS).where(
        Quote.id.in_(_ids()), _published(Quote, indexed=False)
    )


def quote_cards(ids: Iterable[int], *, always: bool = False) -> list[QuoteCard]:
    wanted = list(dict.fromkeys(ids))
    if not wanted and not always:
        return []
    found = {
        r.id: _quote_card(r) for r in _conn().execute(_quotes_by_id(), {"ids": wanted or [0]})
    }
    return [found[i] for i in wanted if i in found]


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _newest_quotes() -> sa.Select:
    return (
        sa.select(*_QUOTE_COLUMNS)
        .where(_published(Quote, indexed=True))
        .order_by(Quote.published_at.desc(), Quote.id.desc())
        .limit(_limit())
    )


def newest_quotes(limit: int) -> list[QuoteCard]:
    return [_quote_card(r) for r in _conn().execute(_newest_quotes(), {"limit": limit})]


# --------------------------------------------------------------------------- lists


def _list_builder(narrow: Any) -> Any:
    """A statement builder for a keyset list: `narrow(select) -> select` adds the list's
    own condition (with bind parameters); the window adds the cursor and the order."""

    def build(window: Window) -> sa.Select:
        return window.apply(narrow(), [Story.published_at, Story.id])

    return build


def _story_page(build: Any, cursor: str | None, **params: Any) -> Page[StoryCard]:
    page = fetch_page(
        _conn(),
        build,
        decode(cursor, (datetime, int)),
        PAGE_SIZE,
        descending=True,
        key=lambda r: (r.published_at, r.id),
        params=params,
    )
    return Page(_complete(page.items), page.next_cursor, page.prev_cursor)


# Driven from the person's recognitions (indexed), not by walking every story by date.
_recognizing = _list_builder(
    lambda: _card_select(by_date=False)
    .join(Recognition, Recognition.story_id == Story.id)
    .where(Recognition.user_id == sa.bindparam("user_id"))
)
_shared_by = _list_builder(
    lambda: _card_select(by_date=False).where(Story.author_id == sa.bindparam("user_id"))
)
_of_team = _list_builder(lambda: _card_select().where(Story.team_id == sa.bindparam("team_id")))
_tagged = _list_builder(
    lambda: _card_select(by_date=False)
    .join(story_tags, story_tags.c.story_id == Story.id)
    .where(story_tags.c.tag_id == sa.bindparam("tag_id"))
)
_at_touchpoint = _list_builder(
    lambda: _card_select().where(Story.touchpoint_id == sa.bindparam("touchpoint_id"))
)


def stories_recognizing(user_id: int, cursor: str | None = None) -> Page[StoryCard]:
    return _story_page(_recognizing, cursor, user_id=user_id)


def stories_shared_by(user_id: int, cursor: str | None = None) -> Page[StoryCard]:
    return _story_page(_shared_by, cursor, user_id=user_id)


def team_stories(team_id: int, cursor: str | None = None) -> Page[StoryCard]:
    return _story_page(_of_team, cursor, team_id=team_id)


def tag_stories(tag_id: int, cursor: str | None = None) -> Page[StoryCard]:
    return _story_page(_tagged, cursor, tag_id=tag_id)


def touchpoint_stories(touchpoint_id: int, cursor: str | None = None) -> Page[StoryCard]:
    return _story_page(_at_touchpoint, cursor, touchpoint_id=touchpoint_id)


# --------------------------------------------------------------------------- home


@dataclass(slots=True)
class EditionHighlights:
    number: int
    subject: str
    sent_at: datetime | None
    stories: list[StoryCard]
    story_count: int
    quote_count: int


@dataclass(slots=True)
class HomeFeed:
    edition: EditionHighlights | None
    newest: list[StoryCard]
    quotes: list[QuoteCard]
    year_ago: list[StoryCard]


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _latest_edition() -> sa.Select:
    def items(column: sa.ColumnElement[Any]) -> sa.ScalarSelect[int]:
        return (
            sa.select(sa.func.count(EditionItem.id))
            .where(EditionItem.edition_id == Edition.id, column.is_not(None))
            .scalar_subquery()
        )

    return (
        sa.select(
            Edition.id,
            Edition.number,
            Edition.subject,
            Edition.sent_at,
            items(EditionItem.story_id).label("story_count"),
            items(EditionItem.quote_id).label("quote_count"),
        )
        .where(Edition.status == EditionStatus.SENT)
        .order_by(Edition.sent_at.desc(), Edition.number.desc())
        .limit(1)
    )


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _edition_stories() -> sa.Select:
    """The first stories of an edition, in newsletter order."""
    return (
        _card_select(by_date=False)
        .join(EditionItem, EditionItem.story_id == Story.id)
        .where(EditionItem.edition_id == sa.bindparam("edition_id"))
        .order_by(EditionItem.position, EditionItem.id)
        .limit(_limit())
    )


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _year_ago() -> sa.Select:
    return (
        _card_select()
        .where(
            Story.published_at >= sa.bindparam("start", type_=Story.published_at.type),
            Story.published_at < sa.bindparam("end", type_=Story.published_at.type),
        )
        .order_by(Story.published_at.desc(), Story.id.desc())
        .limit(_limit())
    )


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _newest_except() -> sa.Select:
    return (
        _card_select()
        .where(Story.id.not_in(_ids("shown")))
        .order_by(Story.published_at.desc(), Story.id.desc())
        .limit(_limit())
    )


def home_feed(
    now: datetime,
    tz: tzinfo,
    *,
    highlights: int = 3,
    newest: int = 6,
    quotes: int = 2,
    year_ago: int = 3,
) -> HomeFeed:
    """The home page: the latest sent edition's first stories, stories from the same week a
    year ago, the newest stories not shown above, the newest quotes (all cards completed in one
    batch, so each story appears once and costs nothing extra)."""
    conn = _conn()
    edition = conn.execute(_latest_edition()).first()
    featured_rows = (
        conn.execute(_edition_stories(), {"edition_id": edition.id, "limit": highlights}).all()
        if edition is not None
        else []
    )
    featured = [r.id for r in featured_rows]
    start, end = year_ago_window(now, tz)
    year_ago_rows = conn.execute(
        _year_ago(), {"start": start, "end": end, "limit": year_ago}
    ).all()
    shown = [*featured, *(r.id for r in year_ago_rows)] or [0]  # each story once on the page
    newest_rows = conn.execute(_newest_except(), {"shown": shown, "limit": newest}).all()
    unique = {r.id: r for r in (*featured_rows, *newest_rows, *year_ago_rows)}
    cards = {c.id: c for c in _complete(list(unique.values()))}
    highlights_block = None
    if edition is not None:
        highlights_block = EditionHighlights(
            number=edition.number,
            subject=edition.subject,
            sent_at=edition.sent_at,
            stories=[cards[i] for i in featured],
            story_count=edition.story_count,
            quote_count=edition.quote_count,
        )
    return HomeFeed(
        edition=highlights_block,
        newest=[cards[r.id] for r in newest_rows],
        quotes=newest_quotes(quotes),
        year_ago=[cards[r.id] for r in year_ago_rows],
    )


def year_ago_window(now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """The same ISO week one year earlier, in the organization's time zone, as UTC bounds.

    Week 53 has no twin in most years; it maps to that year's last week (52).
    """
    local = now.astimezone(tz)
    year, week, _ = local.isocalendar()
    try:
        monday = datetime.fromisocalendar(year - 1, week, 1)
    except ValueError:
        monday = datetime.fromisocalendar(year - 1, 52, 1)
    start = monday.replace(tzinfo=tz)
    end = (monday + timedelta(days=7)).replace(tzinfo=tz)
    return start.astimezone(now.tzinfo), end.astimezone(now.tzinfo)


# --------------------------------------------------------------------------- story page


@dataclass(frozen=True, slots=True)
class StoryStatus:
    status: SubmissionStatus
    author_id: int


def story_status(story_id: int) -> StoryStatus | None:
    row = _conn().execute(
        sa.select(Story.status, Story.author_id).where(Story.id == story_id)
    ).first()
    return StoryStatus(row.status, row.author_id) if row else None


@dataclass(frozen=True, slots=True)
class EditionRef:
    number: int
    subject: str
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoryView:
    """The story as its page shows it (columns, not an ORM object: cheaper to load)."""

    id: int
    title: str
    body_html: str
    author_id: int
    author_name: str
    team_id: int | None
    team_name: str | None
    touchpoint_slug: str | None
    touchpoint_label: str | None
    published_at: datetime | None
    cover_image: str | None
    cover_image_alt: str | None
    customer_display: str
    author_photo: str | None = None


@dataclass(frozen=True, slots=True)
class StoryDetail:
    """What the story page shows to everyone (the viewer's own applause is asked apart)."""

    story: StoryView
    colleagues: list[Colleague]
    tags: list[str]
    edition: EditionRef | None
    applause: int
    more_from_team: list[StoryCard]


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _story() -> sa.Select:
    return (
        sa.select(
            Story.id, Story.title, Story.body_html, Story.author_id,
            User.display_name.label("author_name"), Story.team_id, Team.name.label("team_name"),
            Touchpoint.slug.label("touchpoint_slug"), Touchpoint.label.label("touchpoint_label"),
            Story.published_at, Story.cover_image, Story.cover_image_alt, Story.customer_name,
            Story.customer_organization, Story.customer_segment, Story.customer_consent,
            User.photo_key.label("author_photo"),
        )  # fmt: skip
        .join(User, User.id == Story.author_id)
        .outerjoin(Team, Team.id == Story.team_id)
        .outerjoin(Touchpoint, Touchpoint.id == Story.touchpoint_id)
        .where(Story.id == sa.bindparam("story_id"), _published(Story, indexed=False))
    )


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _first_edition_of() -> sa.Select:
    return (
        sa.select(Edition.number, Edition.subject, Edition.sent_at)
        .join(EditionItem, EditionItem.edition_id == Edition.id)
        .where(
            EditionItem.story_id == sa.bindparam("story_id"),
            Edition.status == EditionStatus.SENT,
        )
        .order_by(Edition.sent_at, Edition.number)
        .limit(1)
    )


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _has_applauded() -> sa.Select:
    return sa.select(Reaction.id).where(
        Reaction.story_id == sa.bindparam("story_id"), Reaction.user_id == sa.bindparam("user_id")
    )


def has_applauded(story_id: int, user_id: int) -> bool:
    params = {"story_id": story_id, "user_id": user_id}
    return _conn().execute(_has_applauded(), params).first() is not None


def story_detail(story_id: int) -> StoryDetail | None:
    """Everything the story page shows everyone, for a published story; None otherwise."""
    conn = _conn()
    row = conn.execute(_story(), {"story_id": story_id}).first()
    if row is None:
        return None
    story = StoryView(
        *row[:12],
        # The model's own rule for naming the customer (anonymous without consent).
        customer_display=Story.customer_display.fget(row),
        author_photo=row.author_photo,
    )
    params = {"ids": [story_id], "story_id": story_id}
    colleagues, tags, applause = [], [], 0
    for r in conn.execute(_card_parts(), params):
        if r.part == 0:
            colleagues.append(Colleague(r.text, r.number, r.photo))
        elif r.part == 1:
            tags.append(r.text)
        else:
            applause = r.number
    edition = conn.execute(_first_edition_of(), params).first()
    return StoryDetail(
        story=story,
        colleagues=colleagues,
        tags=tags,
        edition=EditionRef(*edition) if edition else None,
        applause=applause,
        more_from_team=more_from_team(story.team_id, story_id),
    )


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _more_from_team() -> sa.Select:
    return (
        _card_select()
        .where(Story.team_id == sa.bindparam("team_id"), Story.id != sa.bindparam("story_id"))
        .order_by(Story.published_at.desc(), Story.id.desc())
        .limit(_limit())
    )


def more_from_team(team_id: int | None, story_id: int, limit: int = 3) -> list[StoryCard]:
    if team_id is None:
        return []
    params = {"team_id": team_id, "story_id": story_id, "limit": limit}
    return _complete(_conn().execute(_more_from_team(), params).all())


# --------------------------------------------------------------------------- people & teams


@dataclass(frozen=True, slots=True)
class PersonProfile:
    id: int
    name: str
    team_id: int | None
    team_name: str | None
    recognized_count: int
    shared_count: int
    applause_received: int
    photo: str | None = None


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _person() -> sa.Select:
    user_id = sa.bindparam("user_id")
    published_recognitions = (
        sa.select(Recognition.story_id)
        .join(Story, Story.id == Recognition.story_id)
        .where(Recognition.user_id == user_id, _published(Story, indexed=False))
    )
    return (
        sa.select(
            User.id,
            User.display_name,
            User.team_id,
            Team.name,
            sa.select(sa.func.count())
            .select_from(published_recognitions.subquery())
            .scalar_subquery(),
            sa.select(sa.func.count(Story.id))
            .where(Story.author_id == user_id, _published(Story, indexed=False))
            .scalar_subquery(),
            sa.select(sa.func.count(Reaction.id))
            .where(Reaction.story_id.in_(published_recognitions))
            .scalar_subquery(),
            User.photo_key,
        )
        .outerjoin(Team, Team.id == User.team_id)
        .where(User.id == user_id)
    )


def person_profile(user_id: int) -> PersonProfile | None:
    row = _conn().execute(_person(), {"user_id": user_id}).first()
    return PersonProfile(*row) if row else None


@dataclass(frozen=True, slots=True)
class TeamManager:
    user_id: int
    name: str


@dataclass(frozen=True, slots=True)
class TeamProfile:
    id: int
    name: str
    story_count: int
    member_count: int
    managers: tuple[TeamManager, ...] = ()  # "Managed by …" (see `team_managers`)


@dataclass(frozen=True, slots=True)
class RecognizedPerson:
    user_id: int
    name: str
    count: int
    photo: str | None = None


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _team() -> sa.Select:
    team_id = sa.bindparam("team_id")
    return sa.select(
        Team.id,
        Team.name,
        sa.select(sa.func.count(Story.id))
        .where(Story.team_id == team_id, _published(Story, indexed=False))
        .scalar_subquery(),
        sa.select(sa.func.count(User.id))
        .where(User.team_id == team_id, User.is_active_user.is_(True))
        .scalar_subquery(),
    ).where(Team.id == team_id)


def team_profile(team_id: int) -> TeamProfile | None:
    row = _conn().execute(_team(), {"team_id": team_id}).first()
    return TeamProfile(*row, managers=team_managers(team_id)) if row else None


TEAM_MANAGERS_SHOWN = 5


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _team_managers() -> sa.Select:
    member = aliased(User)
    return (
        sa.select(User.id, User.display_name, User.team_id, User.manager_id,
                  sa.func.count(member.id))
        .join(member, member.manager_id == User.id)
        .where(member.team_id == sa.bindparam("team_id"), member.is_active_user.is_(True),
               member.id != User.id, User.is_active_user.is_(True))
        .group_by(User.id, User.display_name, User.team_id, User.manager_id)
        .order_by(sa.func.count(member.id).desc(), User.display_name, User.id)
    )  # fmt: skip


def team_managers(team_id: int) -> tuple[TeamManager, ...]:
    """Who manages the team: its leads, i.e. active members who manage other active members
    and are not themselves managed by another such lead (a team lead, not every sub-lead).
    A team nobody inside manages is managed by whoever (active) manages its members."""
    rows = _conn().execute(_team_managers(), {"team_id": team_id}).all()
    inside = {r.id for r in rows if r.team_id == team_id}
    leads = [r for r in rows if r.id in inside and r.manager_id not in inside]
    if not leads:  # no one inside, or a loop among them: every manager found
        leads = [r for r in rows if r.id in inside] or rows
    return tuple(TeamManager(r.id, r.display_name) for r in leads[:TEAM_MANAGERS_SHOWN])


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _team_recognized() -> sa.Select:
    count = sa.func.count(Recognition.id)
    return (
        sa.select(User.id, User.display_name, count, User.photo_key)
        .join(Recognition, Recognition.user_id == User.id)
        .join(Story, Story.id == Recognition.story_id)
        .where(User.team_id == sa.bindparam("team_id"), _published(Story, indexed=False))
        .group_by(User.id, User.display_name, User.photo_key)
        .order_by(count.desc(), User.display_name)
        .limit(_limit())
    )


def team_recognized_people(team_id: int, limit: int = 12) -> list[RecognizedPerson]:
    """Members of the team most often recognized in published stories (any team's stories)."""
    rows = _conn().execute(_team_recognized(), {"team_id": team_id, "limit": limit})
    return [RecognizedPerson(*r) for r in rows]


@dataclass(frozen=True, slots=True)
class Topic:
    """A tag or a touchpoint, with one page of its stories."""

    id: int
    title: str
    stories: Page[StoryCard]


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _tag_named() -> sa.Select:
    return sa.select(Tag.id, Tag.name).where(Tag.name == sa.bindparam("name"))


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _touchpoint_slugged() -> sa.Select:
    return sa.select(Touchpoint.id, Touchpoint.label).where(
        Touchpoint.slug == sa.bindparam("slug")
    )


def tag_topic(name: str, cursor: str | None) -> Topic | None:
    row = _conn().execute(_tag_named(), {"name": name.strip().lower()}).first()
    return Topic(row.id, f"#{row.name}", tag_stories(row.id, cursor)) if row else None


def touchpoint_topic(slug: str, cursor: str | None) -> Topic | None:
    row = _conn().execute(_touchpoint_slugged(), {"slug": slug}).first()
    return Topic(row.id, row.label, touchpoint_stories(row.id, cursor)) if row else None


# --------------------------------------------------------------------------- search


@dataclass(frozen=True, slots=True)
class FilterOptions:
    teams: list[tuple[int, str]]
    touchpoints: list[tuple[int, str]]
    tags: list[tuple[int, str]]


@cache  # built once: bound parameters only (cold pages spent ~1 ms per build)
def _filter_option_query() -> sa.CompoundSelect:
    """Teams, touchpoints and tags for the search filters, in one round trip."""
    union = sa.union_all(
        sa.select(sa.literal(0).label("part"), Team.id.label("id"),
                  Team.name.label("label"), sa.literal(0).label("ord")),
        sa.select(sa.literal(1), Touchpoint.id, Touchpoint.label, Touchpoint.position),
        sa.select(sa.literal(2), Tag.id, Tag.name, sa.literal(0)),
    )  # fmt: skip
    c = union.selected_columns
    return union.order_by(c.part, c.ord, c.label, c.id)


def filter_options() -> FilterOptions:
    parts: tuple[list[tuple[int, str]], ...] = ([], [], [])
    for r in _conn().execute(_filter_option_query()):
        parts[r.part].append((r.id, r.label))
    return FilterOptions(teams=parts[0], touchpoints=parts[1], tags=parts[2])


@dataclass(slots=True)
class SearchResult:
    """One result, a story card or a quote, in ranking order."""

    kind: str
    story: StoryCard | None = None
    quote: QuoteCard | None = None


def search_results(
    q: str | None, filters: search.SearchFilters, cursor: str | None, limit: int = 20
) -> Page[SearchResult]:
    """Run the search and turn its hits into cards.

    The same queries run whatever the page holds (even a page without quotes looks quotes up),
    so the page's cost depends neither on the number of results nor on their mix.
    """
    page = search.search(q, filters, cursor, limit=limit)
    any_hits = bool(page.items)
    story_ids = [h.id for h in page.items if h.kind == search.STORY]
    quote_ids = [h.id for h in page.items if h.kind == search.QUOTE]
    stories = {c.id: c for c in story_cards(story_ids, always=any_hits)}
    quotes = {c.id: c for c in quote_cards(quote_ids, always=any_hits)}
    results = []
    for hit in page.items:
        if hit.kind == search.STORY and hit.id in stories:
            card = stories[hit.id]
            if hit.score is not None:
                card.title_html = hit.title or None
                card.snippet_html = hit.snippet or None
            results.append(SearchResult(search.STORY, story=card))
        elif hit.kind == search.QUOTE and hit.id in quotes:
            quote = quotes[hit.id]
            if hit.score is not None and hit.snippet:
                quote = replace(quote, snippet_html=hit.snippet)
            results.append(SearchResult(search.QUOTE, quote=quote))
    return Page(results, page.next_cursor, page.prev_cursor)
