"""Reads for the customer-voice inbox: one page of verbatims, the counts per tab, one verbatim,
and where a quote or story came from.

The inbox order is: promoters who name a colleague first (`priority` 0), then the newest
`received_on`, then the highest id. That mixes directions (priority ascending, the rest
descending), which no single index scan can give, so a page is read branch by branch: the
priority-0 rows, then (if the page is not full) the priority-1 rows, each walking
`ix_verbatims_inbox` (status, priority, received_on, id) backwards from the cursor and stopping
after one page. Pagination is by keyset (app/reading/pagination.py): a page costs the same
however deep the editor goes, and the links stay stable while others dismiss verbatims.

Full-text search narrows the same order (it is a filter, not a ranking): SQLite matches the
FTS5 table `verbatims_fts`, PostgreSQL the GIN expression index of migration 0010; both only
ever see the query's words, quoted (app.reading.search.query_terms), never its syntax.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from app.errors import NotFound
from app.extensions import db
from app.models import Band
from app.models import Quote
from app.models import Story
from app.models import Team
from app.models import User
from app.models import Verbatim
from app.models import VerbatimStatus
from app.models import VoiceImport
from app.models import VoiceSource
from app.reading.pagination import Cursor
from app.reading.pagination import decode
from app.reading.pagination import encode
from app.reading.search import PREFIX_MIN_LENGTH
from app.reading.search import query_terms

PER_PAGE = 50
COUNT_CAP = 1_000  # a tab's count beyond this shows as "1,000+"
MAX_QUERY = 200  # characters of a search kept (the words beyond would be dropped anyway)
TABS = (VerbatimStatus.NEW, VerbatimStatus.USED, VerbatimStatus.DISMISSED)
UNSCORED = "unscored"
BANDS = (*(b.value for b in Band), UNSCORED)
PRIORITIES = (0, 1)
_LOAD = (
    joinedload(Verbatim.source),
    joinedload(Verbatim.team),
    joinedload(Verbatim.touchpoint),
    joinedload(Verbatim.sharer),
    joinedload(Verbatim.decided_by),
)


@dataclass(frozen=True)
class InboxFilters:
    """What the editor narrowed the inbox to; every value already checked (app/voice/forms.py
    drops what it cannot use), so any combination is a valid query."""

    status: VerbatimStatus = VerbatimStatus.NEW
    band: str | None = None  # a Band value or UNSCORED
    source_id: int | None = None
    team_id: int | None = None
    touchpoint_id: int | None = None
    since: date | None = None
    until: date | None = None
    mentions: bool = False
    import_id: int | None = None
    q: str = ""

    @property
    def terms(self) -> list[str]:
        return query_terms(self.q)

    @property
    def active(self) -> bool:
        """Whether anything narrows the tab (the empty state then offers to clear it)."""
        return self != self.cleared()

    def cleared(self) -> InboxFilters:
        """The same tab without any filter."""
        return InboxFilters(status=self.status)

    def args(self, **changes: Any) -> dict[str, str]:
        """The filters as query-string values, for links that keep them (bookmarkable)."""
        target = replace(self, **changes)
        values = {
            "status": target.status.value if target.status != VerbatimStatus.NEW else None,
            "band": target.band,
            "source": target.source_id,
            "team": target.team_id,
            "touchpoint": target.touchpoint_id,
            "from": target.since.isoformat() if target.since else None,
            "to": target.until.isoformat() if target.until else None,
            "mentions": "1" if target.mentions else None,
            "import_id": target.import_id,
            "q": target.q or None,
        }
        return {key: str(value) for key, value in values.items() if value is not None}


@dataclass
class InboxPage:
    status: VerbatimStatus
    items: list[Verbatim]
    next_cursor: str | None
    prev_cursor: str | None
    counts: dict[VerbatimStatus, int]
    people: dict[int, str] = field(default_factory=dict)  # suggested colleagues' names
    teams: dict[int, str] = field(default_factory=dict)  # suggested teams' names

    @property
    def total(self) -> int:
        """How many verbatims the current tab holds with these filters (up to the cap)."""
        return self.counts[self.status]

    def shown_count(self, status: VerbatimStatus | None = None) -> str:
        """The count as shown: "57", "1,000" and, past COUNT_CAP, "1,000+"."""
        count = self.counts[status or self.status]
        return f"{COUNT_CAP:,}+" if count > COUNT_CAP else f"{count:,}"


# -- conditions ----------------------------------------------------------------------------------


def match_value(terms: list[str], dialect: str) -> str:
    """The search words as the engine's query: every word required, the last one also as a
    prefix (results while typing). Words are letters and digits only (`query_terms`), quoted
    for FTS5, so nothing the editor types can be an operator."""
    long_enough = len(terms[-1]) >= PREFIX_MIN_LENGTH
    if dialect == "postgresql":
        parts = list(terms)
        if long_enough:
            parts[-1] = f"{parts[-1]}:*"
        return " & ".join(parts)
    parts = [f'"{t}"' for t in terms]
    if long_enough:
        parts[-1] = f"{parts[-1]}*"
    return " AND ".join(parts)


def _search(terms: list[str], dialect: str) -> sa.ColumnElement[bool]:
    match = match_value(terms, dialect)
    if dialect == "postgresql":
        # Exactly the expression of the GIN index (migration 0010), so the index answers.
        return sa.text(
            "to_tsvector('simple'::regconfig, coalesce(verbatims.text, ''))"
            " @@ to_tsquery('simple'::regconfig, :voice_match)"
        ).bindparams(voice_match=match)
    fts = sa.table("verbatims_fts", sa.column("rowid"))
    return Verbatim.id.in_(
        sa.select(fts.c.rowid).where(
            sa.text("verbatims_fts MATCH :voice_match").bindparams(voice_match=match)
        )
    )


def _conditions(filters: InboxFilters) -> list[sa.ColumnElement[bool]]:
    """Every filter but the tab (status). A response with a score but no comment is counted
    in the insights, never shown in the inbox: there is nothing to quote."""
    conditions: list[sa.ColumnElement[bool]] = [Verbatim.text.is_not(None)]
    if filters.band == UNSCORED:
        conditions.append(Verbatim.band.is_(None))
    elif filters.band:
        conditions.append(Verbatim.band == Band(filters.band))
    for column, value in (
        (Verbatim.source_id, filters.source_id),
        (Verbatim.team_id, filters.team_id),
        (Verbatim.touchpoint_id, filters.touchpoint_id),
        (Verbatim.import_id, filters.import_id),
    ):
        if value is not None:
            conditions.append(column == value)
    if filters.since:
        conditions.append(Verbatim.received_on >= filters.since)
    if filters.until:
        conditions.append(Verbatim.received_on <= filters.until)
    if filters.mentions:
        conditions.append(Verbatim.mentions_colleague.is_(True))
    terms = filters.terms
    if terms:
        conditions.append(_search(terms, db.session.get_bind().dialect.name))
    return conditions


# -- the inbox -----------------------------------------------------------------------------------


def _key(verbatim: Verbatim) -> tuple[int, int, int]:
    return (verbatim.priority, verbatim.received_on.toordinal(), verbatim.id)


def cursor_or_none(token: str | None) -> Cursor | None:
    """A well-formed cursor of the inbox order, or None (the first page)."""
    cursor = decode(token, (int, int, int))
    if cursor is None:
        return None
    priority, day, _id = cursor.values
    if priority not in PRIORITIES or not date.min.toordinal() <= day <= date.max.toordinal():
        return None
    return cursor


def _branch(
    conditions: Sequence[sa.ColumnElement[bool]],
    priority: int,
    bound: tuple[int, int, int] | None,
    backward: bool,
    limit: int,
) -> list[Verbatim]:
    """One priority's rows in index order (newest first; oldest first going back), after
    `bound` when the cursor is in this priority."""
    stmt = sa.select(Verbatim).options(*_LOAD).where(*conditions, Verbatim.priority == priority)
    if bound is not None:
        day, last_id = date.fromordinal(bound[1]), bound[2]
        row = sa.tuple_(Verbatim.received_on, Verbatim.id)
        key = sa.tuple_(sa.literal(day, sa.Date), sa.literal(last_id))
        # The one-column test lets the index bound the scan (as app/reading/pagination.py).
        if backward:
            stmt = stmt.where(row > key, Verbatim.received_on >= day)
        else:
            stmt = stmt.where(row < key, Verbatim.received_on <= day)
    direction = sa.asc if backward else sa.desc
    stmt = stmt.order_by(direction(Verbatim.received_on), direction(Verbatim.id)).limit(limit)
    return list(db.session.scalars(stmt).unique())


def _read(conditions: list[sa.ColumnElement[bool]], cursor: Cursor | None,
          limit: int) -> list[Verbatim]:
    """Up to `limit` rows from the cursor on, in the inbox order (reversed going back)."""
    backward = cursor is not None and cursor.backward
    if cursor is None:
        branches = [(p, None) for p in PRIORITIES]
    else:
        at = cursor.values[0]
        order = reversed(PRIORITIES) if backward else PRIORITIES
        branches = [
            (p, cursor.values if p == at else None)
            for p in order
            if (p <= at if backward else p >= at)
        ]
    rows: list[Verbatim] = []
    for priority, bound in branches:
        rows += _branch(conditions, priority, bound, backward, limit - len(rows))
        if len(rows) >= limit:
            break
    return rows


def _counts(conditions: list[sa.ColumnElement[bool]]) -> dict[VerbatimStatus, int]:
    """Each tab's count, up to COUNT_CAP + 1 (shown as "1,000+"): one statement whose three
    counts each stop early on the index, so a month of 100,000 survey responses costs the
    same as a hundred."""
    counts = [
        sa.select(sa.func.count()).select_from(
            sa.select(Verbatim.id)
            .where(*conditions, Verbatim.status == status)
            .limit(COUNT_CAP + 1)
            .subquery()
        ).scalar_subquery()
        for status in TABS
    ]
    row = db.session.execute(sa.select(*counts)).one()
    return dict(zip(TABS, (int(n) for n in row), strict=True))


def inbox(filters: InboxFilters, cursor: str | None = None, *,
          per_page: int = PER_PAGE) -> InboxPage:
    """One page of the tab `filters.status`, with the count of every tab under the same
    filters and the names of the colleagues and teams the page's verbatims suggest."""
    conditions = _conditions(filters)
    position = cursor_or_none(cursor)
    tab = [*conditions, Verbatim.status == filters.status]
    rows = _read(tab, position, per_page + 1)
    backward = position is not None and position.backward
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backward:
        if not more:  # back at the top: the first page, whole
            return inbox(filters, None, per_page=per_page)
        rows.reverse()
    people, teams = suggested_names(rows)
    return InboxPage(
        filters.status,
        rows,
        encode(_key(rows[-1])) if rows and (backward or more) else None,
        encode(_key(rows[0]), backward=True) if rows and (more if backward else position) else None,
        _counts(conditions),
        people,
        teams,
    )


def suggested_names(rows: Sequence[Verbatim]) -> tuple[dict[int, str], dict[int, str]]:
    """Display names of the suggested colleagues and teams of `rows`: two queries at most."""
    user_ids = {i for v in rows for i in (v.mentioned_user_ids or [])}
    team_ids = {i for v in rows for i in (v.mentioned_team_ids or [])}
    people = dict(db.session.execute(
        sa.select(User.id, User.display_name).where(User.id.in_(user_ids))
    ).all()) if user_ids else {}
    teams = dict(db.session.execute(
        sa.select(Team.id, Team.name).where(Team.id.in_(team_ids))
    ).all()) if team_ids else {}
    return people, teams


def selected(ids: Sequence[int]) -> list[Verbatim]:
    """The verbatims still in the inbox among `ids`, in the inbox order (the bulk dismissal's
    confirmation lists them)."""
    if not ids:
        return []
    return list(db.session.scalars(
        sa.select(Verbatim).where(Verbatim.id.in_(ids), Verbatim.status == VerbatimStatus.NEW)
        .order_by(Verbatim.priority, Verbatim.received_on.desc(), Verbatim.id.desc())
    ))


def active_people(user_ids: Sequence[int]) -> list[User]:
    """The suggested colleagues who still have an active account, in the suggested order: the
    story form ticks them (a deactivated one could not be recognized anyway)."""
    if not user_ids:
        return []
    found = {u.id: u for u in db.session.scalars(
        sa.select(User).where(User.id.in_(user_ids), User.is_active_user.is_(True))
    )}
    return [found[i] for i in dict.fromkeys(user_ids) if i in found]


def waiting_highlights() -> int:
    """New promoters who name a colleague: the navigation's badge (one indexed COUNT)."""
    return int(db.session.scalar(
        sa.select(sa.func.count(Verbatim.id)).where(
            Verbatim.status == VerbatimStatus.NEW, Verbatim.priority == 0
        )
    ) or 0)


# -- choices for the filters ---------------------------------------------------------------------


def source_choices() -> list[tuple[int, str]]:
    return [(i, name) for i, name in db.session.execute(
        sa.select(VoiceSource.id, VoiceSource.name).order_by(VoiceSource.name, VoiceSource.id)
    )]


def import_label(import_id: int | None) -> str | None:
    """"survey-march.csv (6 December 2026)" for the import filter's chip; None if unknown."""
    if import_id is None:
        return None
    found = db.session.get(VoiceImport, import_id)
    if found is None:
        return None
    return f"{found.filename} ({found.created_at.day} {found.created_at:%B %Y})"


# -- one verbatim, and the link back -------------------------------------------------------------


def get_verbatim(verbatim_id: int) -> Verbatim:
    """A verbatim the inbox shows (not one kept for its score only)."""
    verbatim = db.session.scalar(
        sa.select(Verbatim).options(*_LOAD).where(
            Verbatim.id == verbatim_id, Verbatim.status != VerbatimStatus.FILTERED
        )
    )
    if verbatim is None:
        raise NotFound("There is no such comment in the customer-voice inbox.")
    return verbatim


def origin_of(item: Story | Quote) -> Verbatim | None:
    """The verbatim a quote or story was made from, if any (indexed by quote_id / story_id)."""
    column = Verbatim.story_id if isinstance(item, Story) else Verbatim.quote_id
    return db.session.scalar(
        sa.select(Verbatim).options(*_LOAD).where(column == item.id).limit(1)
    )
