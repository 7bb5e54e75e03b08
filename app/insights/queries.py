"""Every figure on the insights page, computed by the database.

Rules that keep these numbers trustworthy and cheap:

* Aggregation happens in SQL (GROUP BY, COUNT DISTINCT, medians); Python only reshapes the
  handful of aggregate rows that come back (percentages, a running total over weekly sums).
* Stored times are UTC. Weekly buckets compare them against the UTC instants of each local
  Monday 00:00, computed in Python (`app.insights.periods`): a small weeks table joined on
  [starts, ends) for indexed columns, or a CASE evaluated in a subquery and grouped outside it
  (PostgreSQL cannot match a GROUP BY expression holding bound parameters). Either way no
  time-zone arithmetic happens in SQL, so SQLite and PostgreSQL agree, across DST changes too.
* One definition per word, used everywhere:
  - submitted: `submitted_at` in the period (a resubmission moves it to the latest submission);
  - decided: `decided_at` in the period (the latest decision: approve, reject, changes requested);
  - published: status published and `published_at` in the period (the edition was sent);
  - recognized: named (as an account) in a story published in the period;
  - active employee: an active account, whatever its role.
  - response: a scored verbatim whose `received_on` (a date) is in the period, whatever its
    status (filtered, dismissed and used ones count); its band was stored at arrival by the one
    band rule (app/voice/scores.py).
* The team filter applies to content by the submitter's team (`team_id` on the story or quote),
  to people by their current team (`users.team_id`) and to verbatims by the team they were
  attributed to. Newsletter health is company-wide.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from app.engagement.queries import EditionFigures
from app.engagement.queries import figure_columns as readership_columns
from app.engagement.queries import figures_from_row as readership_figures
from app.extensions import db
from app.insights.periods import Month
from app.insights.periods import Period
from app.insights.periods import Week
from app.models import Band
from app.models import Edition
from app.models import EditionItem
from app.models import EditionStatus
from app.models import Quote
from app.models import QuoteSource
from app.models import Recognition
from app.models import Scale
from app.models import Story
from app.models import SubmissionStatus
from app.models import Team
from app.models import Touchpoint
from app.models import User
from app.models import Verbatim
from app.models.base import UTCDateTime
from app.voice.scores import THRESHOLDS

S = SubmissionStatus
ItemModel = type[Story] | type[Quote]
ITEM_MODELS: tuple[ItemModel, ...] = (Story, Quote)
NO_TEAM = "No team"
NO_TOUCHPOINT = "Not specified"
TOP_PEOPLE = 10


@dataclass(frozen=True)
class Filters:
    period: Period
    team_id: int | None = None


def share(part: int, whole: int) -> float | None:
    """A percentage with one decimal, or None when there is nothing to divide by."""
    return round(100.0 * part / whole, 1) if whole else None


# Shared SQL building blocks ---------------------------------------------------------------------
def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _in_period(column: Any, period: Period) -> ColumnElement[bool]:
    return sa.and_(column >= period.start_utc, column < period.end_utc)


def _bucket(column: Any, ends: list[Any]) -> ColumnElement[int]:
    """Index of the bucket that contains `column`, given each bucket's exclusive end in order
    (rows must already be in the period).

    A balanced tree of CASE expressions: about log2(buckets) comparisons per row instead of one
    per bucket, which matters over a year of weeks and tens of thousands of rows.
    """

    def branch(first: int, last: int) -> ColumnElement[int]:
        if first == last:
            return sa.literal_column(str(first))
        middle = (first + last) // 2
        return sa.case(
            (column < ends[middle], branch(first, middle)), else_=branch(middle + 1, last)
        )

    return branch(0, len(ends) - 1)


def _week_bucket(column: Any, period: Period) -> ColumnElement[int]:
    """Index of the period week that contains `column`."""
    return _bucket(column, [w.end_utc for w in period.weeks])


def _item_team(model: ItemModel, team_id: int | None) -> ColumnElement[bool]:
    """Submitter's team. `+ 0` keeps SQLite (no statistics) from reading a whole team through
    the team_id index for every week: the period index, which carries team_id, is far better."""
    if not team_id:
        return sa.true()
    return (model.team_id + sa.literal_column("0")) == team_id


def _user_team(team_id: int | None) -> ColumnElement[bool]:
    return User.team_id == team_id if team_id else sa.true()


def _published(model: ItemModel, period: Period) -> ColumnElement[bool]:
    # Published is final in the workflow, so the status test is free and lets the
    # (status, published_at) index serve the range.
    return sa.and_(model.status == S.PUBLISHED, _in_period(model.published_at, period))


@dataclass(frozen=True)
class Durations:
    """One model's stored durations (`value`) whose moment (`at`) falls in the period."""

    model: ItemModel
    value: Any
    at: Any
    conditions: tuple[ColumnElement[bool], ...] = ()
    # Implied by a non-NULL value, stated so a count can range over a covering index that
    # leads with it; left out of the in-order read, whose index does not hold it.
    implied: tuple[ColumnElement[bool], ...] = ()


# From this many weeks on, an SQLite median reads the values in index order: the scan of the
# (value, moment, team) index costs less than sorting a long period's values.
ORDERED_MEDIAN_WEEKS = 26


def _median(arms: list[Durations], period: Period) -> float | None:
    """Median of the stored durations of several models over `period`, or None without rows.

    PostgreSQL has percentile_cont. SQLite has no median: the rows are counted, then the middle
    one or two read with ORDER BY ... LIMIT/OFFSET. Over a long period the moment's range test
    is written `+column` so SQLite walks the (value, moment, team) index in order instead of
    sorting a year of values (docs/performance.md).
    """

    def where(d: Durations, moment: Any) -> tuple[ColumnElement[bool], ...]:
        return (d.value.is_not(None), _in_period(moment, period), *d.conditions)

    if _dialect() == "postgresql":
        values = sa.union_all(
            *(sa.select(d.value.label("v")).where(*where(d, d.at), *d.implied) for d in arms)
        )
        sub = values.subquery()
        stmt = sa.select(sa.func.percentile_cont(sa.literal_column("0.5")).within_group(sub.c.v))
        value = db.session.scalar(stmt)
        return None if value is None else float(value)

    n = _total(
        [sa.select(sa.func.count().label("n")).where(*where(d, d.at), *d.implied) for d in arms]
    )
    if not n:
        return None
    ordered = len(period.weeks) >= ORDERED_MEDIAN_WEEKS
    selects = []
    for d in arms:
        if ordered:
            moment = sa.literal_column(f"+{d.model.__tablename__}.{d.at.key}", _UTC)
            conditions = where(d, moment)
        else:
            conditions = (*where(d, d.at), *d.implied)
        selects.append(sa.select(d.value.label("v")).select_from(d.model).where(*conditions))
    stmt = sa.union_all(*selects).order_by("v").limit(2 - n % 2).offset((n - 1) // 2)
    middle = [int(v) for v in db.session.scalars(stmt)]
    return sum(middle) / len(middle)


@dataclass(frozen=True)
class Events:
    """One stream of events to count per week: a model's timestamp column, the rows it covers,
    and whether an index leads with that column."""

    measure: int
    model: ItemModel
    column: Any
    conditions: tuple[ColumnElement[bool], ...] = ()
    indexed: bool = True


# One shared instance: SQLAlchemy memoizes a type's cache key per instance, so a fresh instance
# per literal would recompute it for every week of every statement.
_UTC = UTCDateTime()


def _weeks_table(period: Period) -> sa.CTE:
    """The period's weeks as rows (week, starts, ends): UTC instants of local Mondays."""
    rows = [
        sa.select(
            sa.literal_column(str(w.index)).label("week"),
            sa.literal(w.start_utc, _UTC).label("starts"),
            sa.literal(w.end_utc, _UTC).label("ends"),
        )
        for w in period.weeks
    ]
    return (sa.union_all(*rows) if len(rows) > 1 else rows[0]).cte("weeks")


def _weekly_counts(streams: list[Events], period: Period) -> defaultdict[tuple[int, int], int]:
    """{(measure, week index): count} for several event streams, in one round trip.

    An indexed column is joined to the weeks table: one index range count per week, the fastest
    plan on both databases. Other streams (few rows, no index) are filtered to the period and
    bucketed by `_week_bucket`.
    """
    weeks = _weeks_table(period)
    selects = []
    for s in streams:
        measure = sa.literal_column(str(s.measure)).label("measure")
        if s.indexed:
            selects.append(
                sa.select(measure, weeks.c.week.label("week"), sa.func.count().label("n"))
                .select_from(s.model)
                .join(weeks, sa.and_(s.column >= weeks.c.starts, s.column < weeks.c.ends))
                .where(*s.conditions)
                .group_by(weeks.c.week)
            )
        else:
            bucketed = (
                sa.select(_week_bucket(s.column, period).label("week"))
                .select_from(s.model)
                .where(_in_period(s.column, period), *s.conditions)
                .subquery()
            )
            selects.append(
                sa.select(measure, bucketed.c.week, sa.func.count().label("n")).group_by(
                    bucketed.c.week
                )
            )
    events = sa.union_all(*selects).subquery()
    stmt = sa.select(events.c.measure, events.c.week, sa.func.sum(events.c.n)).group_by(
        events.c.measure, events.c.week
    )
    counts: defaultdict[tuple[int, int], int] = defaultdict(int)
    for measure, week, n in db.session.execute(stmt):
        counts[int(measure), int(week)] = int(n)
    return counts


def team_choices() -> list[tuple[int, str]]:
    """Teams for the filter, by name."""
    return [
        tuple(row) for row in db.session.execute(sa.select(Team.id, Team.name).order_by(Team.name))
    ]


# Participation ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeeklyActivity:
    week: Week
    stories_submitted: int
    quotes_submitted: int
    approved: int
    published: int

    @property
    def submitted(self) -> int:
        return self.stories_submitted + self.quotes_submitted


@dataclass(frozen=True)
class Participation:
    weeks: list[WeeklyActivity]
    active_employees: int
    contributors: int
    recognized: int
    new_contributors: int

    @property
    def stories_submitted(self) -> int:
        return sum(w.stories_submitted for w in self.weeks)

    @property
    def quotes_submitted(self) -> int:
        return sum(w.quotes_submitted for w in self.weeks)

    @property
    def approved(self) -> int:
        return sum(w.approved for w in self.weeks)

    @property
    def published(self) -> int:
        return sum(w.published for w in self.weeks)

    @property
    def contributor_share(self) -> float | None:
        return share(self.contributors, self.active_employees)

    @property
    def recognized_share(self) -> float | None:
        return share(self.recognized, self.active_employees)

    @property
    def is_empty(self) -> bool:
        return not (
            self.stories_submitted or self.quotes_submitted or self.approved or self.published
        )


_STORY_SUBMITTED, _QUOTE_SUBMITTED, _APPROVED, _PUBLISHED = range(4)


def participation(filters: Filters, *, recognized: int | None = None) -> Participation:
    """`recognized` may be passed in when the recognition section has already counted it (the
    whole page does): it is the same figure, and the costliest one to compute here."""
    period, team_id = filters.period, filters.team_id
    streams = [
        Events(_STORY_SUBMITTED, Story, Story.submitted_at, (_item_team(Story, team_id),)),
        Events(_QUOTE_SUBMITTED, Quote, Quote.submitted_at, (_item_team(Quote, team_id),)),
    ]
    for model in ITEM_MODELS:
        team = _item_team(model, team_id)
        streams.append(Events(_APPROVED, model, model.approved_at, (team,)))
        streams.append(
            Events(_PUBLISHED, model, model.published_at, (model.status == S.PUBLISHED, team))
        )
    counts = _weekly_counts(streams, period)
    weeks = [
        WeeklyActivity(
            week=w,
            stories_submitted=counts[_STORY_SUBMITTED, w.index],
            quotes_submitted=counts[_QUOTE_SUBMITTED, w.index],
            approved=counts[_APPROVED, w.index],
            published=counts[_PUBLISHED, w.index],
        )
        for w in period.weeks
    ]
    contributors, new_contributors = _contributors(period, team_id)
    return Participation(
        weeks=weeks,
        active_employees=_active_employees(team_id),
        contributors=contributors,
        recognized=_recognized_people(period, team_id) if recognized is None else recognized,
        new_contributors=new_contributors,
    )


def _active_people() -> ColumnElement[bool]:
    return User.is_active_user.is_(True)


def _active_employees(team_id: int | None) -> int:
    stmt = sa.select(sa.func.count()).select_from(User).where(_active_people(), _user_team(team_id))
    return db.session.scalar(stmt) or 0


def _contributors(period: Period, team_id: int | None) -> tuple[int, int]:
    """(active colleagues who submitted in the period, people whose first submission ever -
    stories and quotes together - is in the period), in one statement over the same authors."""
    authors = sa.union(
        *(
            sa.select(m.author_id.label("user_id")).where(_in_period(m.submitted_at, period))
            for m in ITEM_MODELS
        )
    ).subquery()
    submitted_before = sa.or_(
        *(
            sa.exists().where(m.author_id == authors.c.user_id, m.submitted_at < period.start_utc)
            for m in ITEM_MODELS
        )
    )
    stmt = (
        sa.select(
            sa.func.count(sa.case((_active_people(), 1))),
            sa.func.count(sa.case((sa.not_(submitted_before), 1))),
        )
        .select_from(authors.join(User, User.id == authors.c.user_id))
        .where(_user_team(team_id))
    )
    active, first_timers = db.session.execute(stmt).one()
    return int(active), int(first_timers)


def _recognized_per_user(period: Period) -> sa.Select:
    """Per account: published stories in the period naming it; one NULL row sums the people
    named by free text. Aggregating per person first keeps every later join (team, active) to
    one row per person instead of one per recognition."""
    return (
        sa.select(Recognition.user_id.label("user_id"), sa.func.count().label("stories"))
        .join(Story, Story.id == Recognition.story_id)
        .where(_published(Story, period))
        .group_by(Recognition.user_id)
    )


def _recognized_people(period: Period, team_id: int | None) -> int:
    per_user = _recognized_per_user(period).subquery()
    stmt = (
        sa.select(sa.func.count())
        .select_from(per_user.join(User, User.id == per_user.c.user_id))
        .where(_active_people(), _user_team(team_id))
    )
    return db.session.scalar(stmt) or 0


# Recognition coverage -----------------------------------------------------------------------------
@dataclass(frozen=True)
class TeamCoverage:
    team_id: int | None
    name: str
    headcount: int
    recognized: int
    recognitions: int

    @property
    def share(self) -> float | None:
        return share(self.recognized, self.headcount)


@dataclass(frozen=True)
class RecognizedPerson:
    user_id: int
    name: str
    team: str | None
    stories: int


@dataclass(frozen=True)
class RecognitionCoverage:
    teams: list[TeamCoverage]
    people: list[RecognizedPerson]
    unnamed_recognitions: int | None  # None with a team filter (no team to attribute them to)

    @property
    def teams_without_recognition(self) -> list[TeamCoverage]:
        """Teams with active colleagues of whom none was recognized (an empty team is no gap)."""
        return [t for t in self.teams if t.team_id is not None and t.headcount and not t.recognized]

    @property
    def staffed_teams(self) -> list[TeamCoverage]:
        return [t for t in self.teams if t.team_id is not None and t.headcount]

    @property
    def recognized(self) -> int:
        return sum(t.recognized for t in self.teams)

    @property
    def is_empty(self) -> bool:
        return not self.teams


_TAGGED_COLUMNS = {
    "team_id": sa.Integer,
    "user_id": sa.Integer,
    "name": sa.String,
    "team_name": sa.String,
    "n": sa.Integer,
    "total": sa.Integer,
}


def _tagged(
    kind: str, shape: dict[str, Any] | None = None, **values: Any
) -> list[ColumnElement[Any]]:
    """The columns of one branch of a UNION of differently shaped rows: a `kind` tag, then every
    column of `shape` (default `_TAGGED_COLUMNS`) in order, as a typed NULL where this branch has
    no value (PostgreSQL types a bare NULL in a subquery as text, which a UNION with numbers
    refuses)."""
    columns = [sa.literal_column(f"'{kind}'").label("kind")]
    for name, type_ in (shape or _TAGGED_COLUMNS).items():
        value = values[name] if name in values else sa.cast(sa.null(), type_)
        columns.append(value.label(name))
    return columns


def recognition_coverage(filters: Filters) -> RecognitionCoverage:
    period, team_id = filters.period, filters.team_id
    headcount = dict(
        db.session.execute(
            sa.select(User.team_id, sa.func.count())
            .where(_active_people(), _user_team(team_id))
            .group_by(User.team_id)
        ).all()
    )
    # One statement, so the per-person aggregate (the costly part) is computed once and read
    # three times: per team, the top people, and the free-text row.
    per_user = _recognized_per_user(period).cte("per_user")
    people = per_user.join(User, User.id == per_user.c.user_id)
    per_team = (
        sa.select(
            *_tagged(
                "team",
                team_id=User.team_id,
                n=sa.func.count(),
                total=sa.func.sum(per_user.c.stories),
            )
        )
        .select_from(people)
        .where(_active_people(), _user_team(team_id))
        .group_by(User.team_id)
    )
    top = (
        sa.select(
            *_tagged(
                "top",
                team_id=User.team_id,
                user_id=User.id,
                name=User.display_name,
                team_name=Team.name,
                n=per_user.c.stories,
            )
        )
        .select_from(people.outerjoin(Team, Team.id == User.team_id))
        .where(_user_team(team_id))
        .order_by(per_user.c.stories.desc(), User.display_name, User.id)
        .limit(TOP_PEOPLE)
        .subquery()
    )
    free_text = sa.select(*_tagged("free_text", n=per_user.c.stories)).where(
        per_user.c.user_id.is_(None)
    )
    rows_by_kind: dict[str, list] = defaultdict(list)
    for row in db.session.execute(sa.union_all(per_team, sa.select(top), free_text)):
        rows_by_kind[row.kind].append(row)

    recognized = {r.team_id: (r.n, int(r.total or 0)) for r in rows_by_kind["team"]}
    teams_stmt = sa.select(Team.id, Team.name)
    if team_id:
        teams_stmt = teams_stmt.where(Team.id == team_id)
    rows = [
        TeamCoverage(tid, name, headcount.get(tid, 0), *recognized.get(tid, (0, 0)))
        for tid, name in db.session.execute(teams_stmt)
    ]
    if not team_id and (headcount.get(None) or None in recognized):
        no_team = recognized.get(None, (0, 0))
        rows.append(TeamCoverage(None, NO_TEAM, headcount.get(None, 0), *no_team))
    rows.sort(key=lambda t: (-t.recognized, -(t.share or 0), t.name.lower()))
    top_people = [
        RecognizedPerson(r.user_id, r.name, r.team_name, r.n) for r in rows_by_kind["top"]
    ]
    # People named by free text have no team: the figure is company-wide only.
    free = sum(r.n for r in rows_by_kind["free_text"]) if not team_id else None
    return RecognitionCoverage(teams=rows, people=top_people, unnamed_recognitions=free)


# Touchpoints --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TouchpointSeries:
    touchpoint_id: int | None
    label: str
    weekly: list[int]

    @property
    def total(self) -> int:
        return sum(self.weekly)


@dataclass(frozen=True)
class TeamTouchpoints:
    team_id: int | None
    name: str
    counts: list[int]  # in the order of `Touchpoints.series`

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class Touchpoints:
    weeks: list[Week]
    series: list[TouchpointSeries]
    teams: list[TeamTouchpoints]

    @property
    def total(self) -> int:
        return sum(s.total for s in self.series)

    @property
    def gaps(self) -> list[TouchpointSeries]:
        """Touchpoints with no published story in the period: holes in the customer journey."""
        return [s for s in self.series if s.touchpoint_id is not None and s.total == 0]

    @property
    def is_empty(self) -> bool:
        return self.total == 0


def touchpoints(filters: Filters) -> Touchpoints:
    period, team_id = filters.period, filters.team_id
    conditions = [_published(Story, period), _item_team(Story, team_id)]
    weeks = _weeks_table(period)
    in_week = sa.and_(Story.published_at >= weeks.c.starts, Story.published_at < weeks.c.ends)
    weekly: dict[int | None, dict[int, int]] = defaultdict(dict)
    for tp, week, count in db.session.execute(
        sa.select(Story.touchpoint_id, weeks.c.week, sa.func.count())
        .select_from(Story)
        .join(weeks, in_week)
        .where(Story.status == S.PUBLISHED, _item_team(Story, team_id))
        .group_by(Story.touchpoint_id, weeks.c.week)
    ):
        weekly[tp][int(week)] = count
    by_team: dict[int | None, dict[int | None, int]] = defaultdict(dict)
    for team, tp, count in db.session.execute(
        sa.select(Story.team_id, Story.touchpoint_id, sa.func.count())
        .where(*conditions)
        .group_by(Story.team_id, Story.touchpoint_id)
    ):
        by_team[team][tp] = count

    # Every active touchpoint is listed, so a missing one shows as a gap rather than vanishing.
    columns: list[tuple[int | None, str]] = [
        (tid, label)
        for tid, label, active in db.session.execute(
            sa.select(Touchpoint.id, Touchpoint.label, Touchpoint.is_active).order_by(
                Touchpoint.position, Touchpoint.label
            )
        )
        if active or tid in weekly
    ]
    if None in weekly:
        columns.append((None, NO_TOUCHPOINT))
    series = [
        TouchpointSeries(tid, label, [weekly[tid].get(w.index, 0) for w in period.weeks])
        for tid, label in columns
    ]

    teams_stmt = sa.select(Team.id, Team.name).order_by(Team.name)
    if team_id:
        teams_stmt = teams_stmt.where(Team.id == team_id)
    team_rows = [
        TeamTouchpoints(tid, name, [by_team[tid].get(c, 0) for c, _ in columns])
        for tid, name in db.session.execute(teams_stmt)
    ]
    if None in by_team:
        team_rows.append(
            TeamTouchpoints(None, NO_TEAM, [by_team[None].get(c, 0) for c, _ in columns])
        )
    return Touchpoints(weeks=list(period.weeks), series=series, teams=team_rows)


# Customer voice -----------------------------------------------------------------------------------
# Below this many responses a score carries a "small sample" note: one answer more or less moves
# it by several points, so it says little about customers at large.
SMALL_SAMPLE = 30
SCALES = tuple(Scale)
NPS_TOP, NPS_BOTTOM = THRESHOLDS[Scale.NPS]  # the band rule of app/voice/scores.py


@dataclass(frozen=True)
class BandCounts:
    """Responses on one scale by band (each verbatim's band is stored at arrival)."""

    promoters: int = 0
    passives: int = 0
    detractors: int = 0

    @classmethod
    def total(cls, parts: Iterable[BandCounts]) -> BandCounts:
        promoters = passives = detractors = 0
        for part in parts:
            promoters += part.promoters
            passives += part.passives
            detractors += part.detractors
        return cls(promoters, passives, detractors)

    @property
    def responses(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def net(self) -> int | None:
        """% promoters minus % detractors as a whole number (-100..100), halves rounded away from
        zero in integers (no float or banker's rounding: +32.5 is +33, -32.5 is -33)."""
        n = self.responses
        if not n:
            return None
        difference = self.promoters - self.detractors
        whole = (200 * abs(difference) + n) // (2 * n)
        return whole if difference >= 0 else -whole

    @property
    def promoter_share(self) -> float | None:
        return share(self.promoters, self.responses)

    @property
    def passive_share(self) -> float | None:
        return share(self.passives, self.responses)

    @property
    def detractor_share(self) -> float | None:
        return share(self.detractors, self.responses)

    @property
    def small_sample(self) -> bool:
        return 0 < self.responses < SMALL_SAMPLE


@dataclass(frozen=True)
class VoiceGroup:
    """The NPS responses of one team or touchpoint (key None: none recorded)."""

    key: int | None
    name: str
    counts: BandCounts


@dataclass(frozen=True)
class VoiceBucket:
    bucket: Week | Month
    counts: BandCounts


@dataclass(frozen=True)
class CustomerVoice:
    """Every scored response received in the period, whatever became of its text: filtered
    (kept for the score only), dismissed and used verbatims all count."""

    nps: BandCounts
    csat: BandCounts
    ces: BandCounts
    teams: list[VoiceGroup]
    touchpoints: list[VoiceGroup]
    trend: list[VoiceBucket]
    promoter_comments: int  # promoters on any scale, with text
    naming_colleague: int  # of those, naming a colleague
    reached_edition: int  # of those, turned into a quote or story that went out in an edition

    @property
    def naming_share(self) -> float | None:
        return share(self.naming_colleague, self.promoter_comments)

    @property
    def reached_share(self) -> float | None:
        return share(self.reached_edition, self.naming_colleague)

    @property
    def is_empty(self) -> bool:
        return not (self.nps.responses or self.csat.responses or self.ces.responses)


def _in_sent_edition(item_column: Any, value: Any) -> ColumnElement[bool]:
    """Whether the quote or story `value` is an item of a sent edition. Driven by the item's
    quote_id / story_id index; `+ 0` keeps SQLite off the (edition_id, quote_id) index, which
    without statistics it prefers, looping over every sent edition for every row (50x slower)."""
    sent_editions = sa.select(Edition.id).where(Edition.status == EditionStatus.SENT)
    edition = EditionItem.edition_id + sa.literal_column("0")
    item = sa.select(EditionItem.id).where(item_column == value, edition.in_(sent_editions))
    return item.exists()


_VOICE_COLUMNS = {
    "scale": Verbatim.scale.type,
    "bucket": sa.Integer,
    "team_id": sa.Integer,
    "touchpoint_id": sa.Integer,
    "name": sa.String,
    "promoters": sa.Integer,
    "passives": sa.Integer,
    "detractors": sa.Integer,
    "named": sa.Integer,
    "reached": sa.Integer,
}
# Literal, not a bound parameter: the recognition yield's partial index
# (ix_verbatims_promoter_comments) is chosen only when the query states its condition.
_PROMOTER = sa.literal_column(f"'{Band.PROMOTER.value}'")


def _per_band() -> dict[str, ColumnElement[int]]:
    """Responses per band as three counts of one row (fewer rows to group and to read)."""
    return {
        name: sa.func.count(sa.case((Verbatim.band == b, 1)))
        for name, b in (
            ("promoters", Band.PROMOTER),
            ("passives", Band.PASSIVE),
            ("detractors", Band.DETRACTOR),
        )
    }


def _sqlite_hint(column: Any) -> Any:
    """`column + 0` on SQLite: the column's indexes are then not used to reach its rows from the
    other side of a join, which leaves SQLite (no statistics) the order the query means, here
    comment -> its edition items -> their edition, instead of starting from every item of every
    sent edition. PostgreSQL has statistics and chooses well by itself."""
    return column + sa.literal_column("0") if _dialect() == "sqlite" else column


def _in_scope(v: Any, filters: Filters) -> tuple[ColumnElement[bool], ...]:
    """Received in the period (whole local days) and, with a team filter, that team's."""
    team = v.team_id == filters.team_id if filters.team_id else sa.true()
    return (v.received_on >= filters.period.start, v.received_on <= filters.period.end, team)


def _counts(row: Any) -> BandCounts:
    return BandCounts(int(row.promoters), int(row.passives), int(row.detractors))


def customer_voice(filters: Filters) -> CustomerVoice:
    """One statement, each part read from an index over the period's days:

    * per scale and trend bucket (week or month): ix_verbatims_scores' range read in its own
      order and counted per scale and day, which SQLite does without sorting, then the few
      hundred days bucketed and summed (the totals are the buckets' sum);
    * NPS per team and touchpoint: the same range, grouped once for both breakdowns (a sort of
      the period's NPS responses on SQLite, a hash on PostgreSQL);
    * the recognition yield: promoter comments with text, from the partial index
      ix_verbatims_promoter_comments; only those naming a colleague look up their quote or story;
    * team and touchpoint names.
    """
    period, team_id = filters.period, filters.team_id
    scope = _in_scope(Verbatim, filters)
    bands = _per_band()
    days = (
        sa.select(
            Verbatim.scale.label("scale"),
            Verbatim.received_on.label("day"),
            *(count.label(name) for name, count in bands.items()),
        )
        .where(Verbatim.scale.in_(SCALES), *scope)
        .group_by(Verbatim.scale, Verbatim.received_on)
        .subquery()
    )
    buckets = period.trend_buckets
    ends = [b.last_day + timedelta(days=1) for b in buckets]
    # Bucketed in a subquery and grouped outside it: PostgreSQL cannot match a GROUP BY
    # expression holding bound parameters.
    bucketed = sa.select(
        days.c.scale,
        _bucket(days.c.day, ends).label("bucket"),
        *(days.c[name] for name in bands),
    ).subquery()
    by_bucket = sa.select(
        *_tagged(
            "bucket",
            _VOICE_COLUMNS,
            scale=bucketed.c.scale,
            bucket=bucketed.c.bucket,
            **{name: sa.cast(sa.func.sum(bucketed.c[name]), sa.Integer) for name in bands},
        )
    ).group_by(bucketed.c.scale, bucketed.c.bucket)
    by_group = (
        sa.select(
            *_tagged(
                "group",
                _VOICE_COLUMNS,
                team_id=Verbatim.team_id,
                touchpoint_id=Verbatim.touchpoint_id,
                **bands,
            )
        )
        .where(Verbatim.scale == Scale.NPS, *scope)
        .group_by(Verbatim.team_id, Verbatim.touchpoint_id)
    )

    def promoter_comments(v: Any) -> tuple[ColumnElement[bool], ...]:
        """Promoters on any scale with a comment: exactly the rows of the partial index
        ix_verbatims_promoter_comments (received_on, team_id, mentions_colleague), whose
        condition this states word for word so that both databases match it."""
        return (v.band == _PROMOTER, v.text.is_not(None), *_in_scope(v, filters))

    # Those naming a colleague whose quote or story is an item of a sent edition: joins from the
    # few named comments, not a subquery per row (which PostgreSQL would cost for every promoter
    # comment, enough to trigger its JIT compiler: ~300 ms of compilation).
    v = aliased(Verbatim, name="v")
    named = (
        sa.select(v.id, v.quote_id, v.story_id)
        .where(*promoter_comments(v), v.mentions_colleague.is_(True))
        .cte("named_comments")  # read once, joined twice
    )
    went_out = sa.union(
        *(
            sa.select(named.c.id)
            .join(EditionItem, item_column == _sqlite_hint(link))
            .join(Edition, Edition.id == _sqlite_hint(EditionItem.edition_id))
            .where(Edition.status == EditionStatus.SENT)
            for link, item_column in (
                (named.c.quote_id, EditionItem.quote_id),
                (named.c.story_id, EditionItem.story_id),
            )
        )
    ).subquery()
    recognition = sa.select(
        *_tagged(
            "yield",
            _VOICE_COLUMNS,
            promoters=sa.func.count(),
            named=sa.func.count(sa.case((Verbatim.mentions_colleague.is_(True), 1))),
            reached=sa.select(sa.func.count()).select_from(went_out).scalar_subquery(),
        )
    ).where(*promoter_comments(Verbatim))
    team_names = sa.select(*_tagged("team", _VOICE_COLUMNS, team_id=Team.id, name=Team.name))
    if team_id:
        team_names = team_names.where(Team.id == team_id)
    touchpoint_names = sa.select(
        *_tagged("touchpoint", _VOICE_COLUMNS, touchpoint_id=Touchpoint.id, name=Touchpoint.label)
    )
    rows_by_kind: dict[str, list] = defaultdict(list)
    statement = sa.union_all(by_bucket, by_group, recognition, team_names, touchpoint_names)
    for row in db.session.execute(statement):
        rows_by_kind[row.kind].append(row)

    per_bucket = {(row.scale, row.bucket): _counts(row) for row in rows_by_kind["bucket"]}
    trend = [VoiceBucket(b, per_bucket.get((Scale.NPS, b.index), BandCounts())) for b in buckets]

    def total(scale: Scale) -> BandCounts:
        return BandCounts.total(c for (s, _), c in per_bucket.items() if s == scale)

    def groups(column: str, names_kind: str, missing: str) -> list[VoiceGroup]:
        names = {getattr(r, column): r.name for r in rows_by_kind[names_kind]}
        per_key: dict[int | None, list[BandCounts]] = defaultdict(list)
        for row in rows_by_kind["group"]:
            per_key[getattr(row, column)].append(_counts(row))
        found = [
            VoiceGroup(
                key, missing if key is None else names.get(key, missing), BandCounts.total(counts)
            )
            for key, counts in per_key.items()
        ]
        # Reliable samples first, best score first; "no team" / "not specified" last.
        return sorted(
            found,
            key=lambda g: (
                g.key is None,
                g.counts.small_sample,
                -(g.counts.net or 0),
                -g.counts.responses,
                g.name.casefold(),
            ),
        )

    recognition_row = rows_by_kind["yield"][0]
    return CustomerVoice(
        nps=total(Scale.NPS),
        csat=total(Scale.CSAT),
        ces=total(Scale.CES),
        teams=groups("team_id", "team", NO_TEAM),
        touchpoints=groups("touchpoint_id", "touchpoint", NO_TOUCHPOINT),
        trend=trend,
        promoter_comments=recognition_row.promoters,
        naming_colleague=recognition_row.named,
        reached_edition=recognition_row.reached,
    )


# Curated quotes -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CuratedQuotes:
    """Quotes colleagues chose to submit, and the 0–10 scores some of them carry. Hand-picked,
    so their scores say what colleagues collect, not what customers at large think."""

    by_source: list[tuple[QuoteSource, int]]
    nps_counts: list[int]  # index = score 0..10
    promoters_in_edition: int

    @property
    def quotes(self) -> int:
        return sum(n for _, n in self.by_source)

    @property
    def scored(self) -> int:
        return sum(self.nps_counts)

    @property
    def promoters(self) -> int:
        return sum(self.nps_counts[NPS_TOP:])

    @property
    def passives(self) -> int:
        return sum(self.nps_counts[NPS_BOTTOM + 1 : NPS_TOP])

    @property
    def detractors(self) -> int:
        return sum(self.nps_counts[: NPS_BOTTOM + 1])

    @property
    def average_score(self) -> float | None:
        """Mean 0–10 score of the scored quotes, one decimal. Quotes are picked by colleagues, so
        this is not a Net Promoter Score (which needs every surveyed customer's answer)."""
        if not self.scored:
            return None
        return round(sum(score * n for score, n in enumerate(self.nps_counts)) / self.scored, 1)

    @property
    def promoters_in_edition_share(self) -> float | None:
        return share(self.promoters_in_edition, self.promoters)

    @property
    def is_empty(self) -> bool:
        return self.quotes == 0


def curated_quotes(filters: Filters) -> CuratedQuotes:
    period, team_id = filters.period, filters.team_id
    conditions = [_in_period(Quote.submitted_at, period), _item_team(Quote, team_id)]
    sources = dict(
        db.session.execute(
            sa.select(Quote.source, sa.func.count()).where(*conditions).group_by(Quote.source)
        ).all()
    )
    nps = dict(
        db.session.execute(
            sa.select(Quote.nps_score, sa.func.count())
            .where(*conditions, Quote.nps_score.is_not(None))
            .group_by(Quote.nps_score)
        ).all()
    )
    # Driven by the quote: its edition items (by quote_id), then "is that edition sent?".
    promoters_in_edition = db.session.scalar(
        sa.select(sa.func.count()).where(
            *conditions,
            Quote.nps_score >= NPS_TOP,
            _in_sent_edition(EditionItem.quote_id, Quote.id),
        )
    )
    return CuratedQuotes(
        by_source=[(source, sources.get(source, 0)) for source in QuoteSource],
        nps_counts=[nps.get(score, 0) for score in range(11)],
        promoters_in_edition=promoters_in_edition or 0,
    )


# Editorial flow -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueuePoint:
    week: Week
    submitted: int
    left: int
    waiting: int  # at the end of the week


@dataclass(frozen=True)
class EditorialFlow:
    median_hours_to_decision: float | None
    decisions: int
    median_hours_to_publication: float | None
    publications: int
    approved: int
    changes_requested: int
    rejected: int
    queue_at_start: int
    queue: list[QueuePoint]

    @property
    def acceptance_rate(self) -> float | None:
        """Approved share of final decisions (changes requested is not final)."""
        return share(self.approved, self.approved + self.rejected)

    @property
    def queue_now(self) -> int:
        return self.queue[-1].waiting if self.queue else self.queue_at_start

    @property
    def is_empty(self) -> bool:
        return not (self.decisions or self.publications or self.queue_at_start) and not any(
            q.submitted for q in self.queue
        )


def _decided_this_round(model: ItemModel) -> ColumnElement[bool]:
    """The latest decision answers the latest submission. An older decision belongs to an
    earlier round: the item was sent back, resubmitted, and is waiting again."""
    return model.decided_at >= model.submitted_at


def _undecided_this_round(model: ItemModel) -> ColumnElement[bool]:
    return sa.or_(model.decided_at.is_(None), model.decided_at < model.submitted_at)


def _total(selects: list[sa.Select]) -> int:
    """Sum of several COUNT(*) selects, in one round trip."""
    counts = sa.union_all(*selects).subquery()
    return int(db.session.scalar(sa.select(sa.func.sum(counts.c.n))) or 0)


_ENTERED, _LEFT = 0, 1


def editorial_flow(filters: Filters, *, submitted: dict[int, int] | None = None) -> EditorialFlow:
    """`submitted` (per week index) may be passed in when the participation section has
    already counted it (the whole page does): items enter the queue when they are submitted."""
    period, team_id = filters.period, filters.team_id

    # Stored durations (the models keep them). decision_seconds is NULL unless the latest
    # decision answers the latest submission (this round); published is final.
    decision_median = _median(
        [
            Durations(m, m.decision_seconds, m.decided_at, (_item_team(m, team_id),))
            for m in ITEM_MODELS
        ],
        period,
    )
    publication_median = _median(
        [
            Durations(
                m,
                m.publication_seconds,
                m.published_at,
                (_item_team(m, team_id),),
                implied=(m.status == S.PUBLISHED,),
            )
            for m in ITEM_MODELS
        ],
        period,
    )

    decided = sa.union_all(
        *(
            sa.select(m.status.label("status")).where(
                _in_period(m.decided_at, period), _item_team(m, team_id)
            )
            for m in ITEM_MODELS
        )
    ).subquery()
    by_status = dict(
        db.session.execute(
            sa.select(decided.c.status, sa.func.count()).group_by(decided.c.status)
        ).all()
    )
    # The latest decision, read from the current status: approved (maybe published since),
    # rejected, or changes requested (the item may have been resubmitted or withdrawn since).
    approved = by_status.pop(S.APPROVED, 0) + by_status.pop(S.PUBLISHED, 0)
    rejected = by_status.pop(S.REJECTED, 0)
    changes_requested = sum(by_status.values())

    # The review queue: an item enters when submitted and leaves when decided this round, or
    # when withdrawn (its last update); items with status "submitted" are still waiting.
    # Size at the end of each week = waiting at the start + entered so far - left so far.
    start = period.start_utc
    n = sa.func.count().label("n")
    at_start = _total(
        [
            stmt
            for m in ITEM_MODELS
            for stmt in (
                sa.select(n).where(
                    m.status == S.SUBMITTED,
                    m.submitted_at < start,
                    _undecided_this_round(m),
                    _item_team(m, team_id),
                ),
                sa.select(n).where(
                    m.decided_at >= start,
                    _decided_this_round(m),
                    m.submitted_at < start,
                    _item_team(m, team_id),
                ),
                sa.select(n).where(
                    m.status == S.WITHDRAWN,
                    m.updated_at >= start,
                    m.submitted_at < start,
                    _undecided_this_round(m),
                    _item_team(m, team_id),
                ),
            )
        ]
    )
    streams = []
    for m in ITEM_MODELS:
        team = _item_team(m, team_id)
        if submitted is None:
            streams.append(Events(_ENTERED, m, m.submitted_at, (team,)))
        streams.append(Events(_LEFT, m, m.decided_at, (_decided_this_round(m), team)))
        withdrawn = (m.status == S.WITHDRAWN, _undecided_this_round(m), team)
        streams.append(Events(_LEFT, m, m.updated_at, withdrawn, indexed=False))
    counts = _weekly_counts(streams, period)
    waiting = at_start
    queue = []
    for w in period.weeks:
        entered = counts[_ENTERED, w.index] if submitted is None else submitted[w.index]
        left = counts[_LEFT, w.index]
        waiting += entered - left
        queue.append(QueuePoint(week=w, submitted=entered, left=left, waiting=waiting))

    return EditorialFlow(
        median_hours_to_decision=_hours(decision_median),
        decisions=approved + rejected + changes_requested,
        median_hours_to_publication=_hours(publication_median),
        publications=_count_published(period, team_id),
        approved=approved,
        changes_requested=changes_requested,
        rejected=rejected,
        queue_at_start=at_start,
        queue=queue,
    )


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600.0, 1)


def _count_published(period: Period, team_id: int | None) -> int:
    return _total(
        [
            sa.select(sa.func.count().label("n")).where(
                _published(m, period), m.approved_at.is_not(None), _item_team(m, team_id)
            )
            for m in ITEM_MODELS
        ]
    )


# Newsletter health --------------------------------------------------------------------------------
@dataclass(frozen=True)
class EditionHealth:
    edition_id: int
    number: int
    sent_at: datetime
    recipients: int
    sent: int
    failed: int
    unsubscribed_since: int
    web_views: int
    reactions: int
    # Opens and clicks, with their rates and "measured or not" (app/engagement/queries.py).
    readership: EditionFigures | None = None

    @property
    def delivery_rate(self) -> float | None:
        return share(self.sent, self.recipients)


@dataclass(frozen=True)
class NewsletterHealth:
    editions: list[EditionHealth]
    unsubscribed_in_period: int

    def _measured(self, opens: bool) -> list[EditionFigures]:
        figures = [e.readership for e in self.editions if e.readership is not None]
        return [f for f in figures if (f.opens_measured if opens else f.clicks_measured)]

    @property
    def opens_measured_in(self) -> int:
        return len(self._measured(True))

    @property
    def clicks_measured_in(self) -> int:
        return len(self._measured(False))

    @property
    def opened(self) -> int:
        return sum(f.opened for f in self._measured(True))

    @property
    def clicked(self) -> int:
        return sum(f.clicked for f in self._measured(False))

    @property
    def open_rate(self) -> float | None:
        """Unique opens over delivered emails, for the editions where opens were measured."""
        return share(self.opened, sum(f.delivered for f in self._measured(True)))

    @property
    def click_rate(self) -> float | None:
        return share(self.clicked, sum(f.delivered for f in self._measured(False)))

    @property
    def recipients(self) -> int:
        return sum(e.recipients for e in self.editions)

    @property
    def sent(self) -> int:
        return sum(e.sent for e in self.editions)

    @property
    def failed(self) -> int:
        return sum(e.failed for e in self.editions)

    @property
    def delivery_rate(self) -> float | None:
        return share(self.sent, self.recipients)

    @property
    def web_views(self) -> int:
        return sum(e.web_views for e in self.editions)

    @property
    def reactions(self) -> int:
        return sum(e.reactions for e in self.editions)

    @property
    def is_empty(self) -> bool:
        return not self.editions


def newsletter_health(filters: Filters) -> NewsletterHealth:
    """Per edition sent in the period. Recipients, sent and failed are the edition's counters,
    which the sending code (app/newsletter/sending.py) sets from the per-recipient delivery rows
    when the edition finishes and after a retry: reading 52 edition rows instead of counting
    every delivery keeps a year of editions cheap."""
    period = filters.period
    # Applause, unsubscribes, opens and clicks: the definitions the edition's report uses.
    stmt = (
        sa.select(Edition.recipients_count, Edition.failed_count, *readership_columns())
        .where(Edition.status == EditionStatus.SENT, _in_period(Edition.sent_at, period))
        .order_by(Edition.sent_at, Edition.number)
    )
    editions = []
    for recipients, failed, *figures in db.session.execute(stmt):
        f = readership_figures(figures)
        editions.append(
            EditionHealth(f.edition_id, f.number, f.sent_at, recipients, f.delivered, failed,
                          f.unsubscribed, f.web_reads, f.applause, readership=f)
        )
    unsubscribed_in_period = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(User)
        .where(User.email_opt_out.is_(True), _in_period(User.opted_out_at, period))
    )
    return NewsletterHealth(editions=editions, unsubscribed_in_period=unsubscribed_in_period or 0)


# The whole page -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Insights:
    participation: Participation
    recognition: RecognitionCoverage
    touchpoints: Touchpoints
    voice: CustomerVoice
    quotes: CuratedQuotes
    flow: EditorialFlow
    newsletter: NewsletterHealth


SECTIONS = {
    "participation": participation,
    "recognition": recognition_coverage,
    "touchpoints": touchpoints,
    "voice": customer_voice,
    "quotes": curated_quotes,
    "flow": editorial_flow,
    "newsletter": newsletter_health,
}


def insights(filters: Filters) -> Insights:
    """Every section; participation reuses the recognition section's count of people, and the
    editorial flow participation's weekly submissions (the same figures, counted once)."""
    recognition = recognition_coverage(filters)
    activity = participation(filters, recognized=recognition.recognized)
    return Insights(
        participation=activity,
        recognition=recognition,
        touchpoints=touchpoints(filters),
        voice=customer_voice(filters),
        quotes=curated_quotes(filters),
        flow=editorial_flow(filters, submitted={w.week.index: w.submitted for w in activity.weeks}),
        newsletter=newsletter_health(filters),
    )
