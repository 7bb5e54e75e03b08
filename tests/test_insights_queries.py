"""Every insights figure against a small hand-built dataset whose answers are worked out below.

The period is 16 March – 5 April 2026 in Europe/Paris: three Monday weeks (2026-W12, W13, W14)
with the switch to summer time on Sunday 29 March, so the W13/W14 boundary is 22:00 UTC while the
W12/W13 one is 23:00 UTC. Times below are UTC; items sit on both sides of those boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db as _db
from app.insights import queries
from app.insights.periods import build_period
from app.insights.queries import Filters
from app.models import EditionStatus
from app.models import Quote
from app.models import QuoteSource
from app.models import Reaction
from app.models import Role
from app.models import SubmissionStatus
from app.models import Touchpoint
from app.settings import set_settings
from app.workflow import transition_submission
from tests.querycount import count_queries

S = SubmissionStatus
PARIS = "Europe/Paris"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class World:
    teams: dict
    users: dict
    period: object

    @property
    def all(self) -> Filters:
        return Filters(self.period)

    def team(self, name: str) -> Filters:
        return Filters(self.period, self.teams[name].id)


@pytest.fixture
def world(db, make_team, make_user, make_story, make_quote, make_edition) -> World:
    set_settings({"timezone": PARIS}, actor=None)
    front, back, silent = make_team("Front"), make_team("Back"), make_team("Silent")
    u = {
        "alice": make_user(team=front, display_name="Alice"),
        "bob": make_user(team=front, display_name="Bob"),
        "ed": make_user(Role.EDITOR, team=front, display_name="Ed"),
        "carol": make_user(team=back, display_name="Carol"),
        "dave": make_user(team=back, display_name="Dave"),
        "erin": make_user(team=silent, display_name="Erin"),
        "frank": make_user(team=silent, display_name="Frank", active=False),
        "gina": make_user(display_name="Gina"),  # no team
    }

    def story(author, status, tp="store", **times):
        return make_story(u[author], status=status, touchpoint_slug=tp, **times)

    s1 = story(
        "alice",
        S.PUBLISHED,
        "store",
        colleagues=[u["carol"]],
        names=["Pat Visitor"],
        submitted_at=at("2026-03-17 10:00"),
        decided_at=at("2026-03-18 10:00"),
        approved_at=at("2026-03-18 10:00"),
        published_at=at("2026-03-20 08:00"),
    )
    # 23:30 on Sunday 29 March in Paris (CEST): still week 13.
    s2 = story(
        "bob",
        S.PUBLISHED,
        "phone",
        colleagues=[u["carol"], u["dave"]],
        submitted_at=at("2026-03-29 21:30"),
        decided_at=at("2026-03-30 09:30"),
        approved_at=at("2026-03-30 09:30"),
        published_at=at("2026-04-03 08:30"),
    )
    # 00:30 on Monday 30 March in Paris: week 14 (in UTC it is still Sunday).
    story("carol", S.SUBMITTED, "store", submitted_at=at("2026-03-29 22:30"))
    # Submitted before the period, rejected inside it: waiting when the period starts.
    story(
        "alice",
        S.REJECTED,
        "chat",
        submitted_at=at("2026-03-10 09:00"),
        decided_at=at("2026-03-24 09:00"),
    )
    story(
        "dave",
        S.CHANGES_REQUESTED,
        "store",
        submitted_at=at("2026-03-20 12:00"),
        decided_at=at("2026-03-21 12:00"),
    )
    s6 = story(
        "gina",
        S.PUBLISHED,
        None,
        colleagues=[u["alice"]],
        submitted_at=at("2026-03-02 10:00"),
        decided_at=at("2026-03-03 10:00"),
        approved_at=at("2026-03-03 10:00"),
        published_at=at("2026-03-25 08:00"),
    )
    # Resubmitted after an earlier change request: waiting again.
    story(
        "bob",
        S.SUBMITTED,
        "web",
        submitted_at=at("2026-03-31 10:00"),
        decided_at=at("2026-03-12 10:00"),
    )

    def quote(author, status, source, nps, **times):
        return make_quote(u[author], status=status, source=source, nps_score=nps, **times)

    q1 = quote(
        "erin",
        S.PUBLISHED,
        QuoteSource.SURVEY,
        10,
        submitted_at=at("2026-03-18 10:00"),
        decided_at=at("2026-03-19 10:00"),
        approved_at=at("2026-03-19 10:00"),
        published_at=at("2026-03-20 08:00"),
    )
    q2 = quote("erin", S.SUBMITTED, QuoteSource.SURVEY, 9, submitted_at=at("2026-03-24 10:00"))
    quote(
        "bob",
        S.APPROVED,
        QuoteSource.EMAIL,
        6,
        submitted_at=at("2026-03-25 10:00"),
        decided_at=at("2026-03-26 16:00"),
        approved_at=at("2026-03-26 16:00"),
    )
    q4 = quote("alice", S.WITHDRAWN, QuoteSource.CALL, None, submitted_at=at("2026-04-01 10:00"))
    quote(
        "frank",
        S.REJECTED,
        QuoteSource.SURVEY,
        3,
        submitted_at=at("2026-03-19 10:00"),
        decided_at=at("2026-03-19 16:00"),
    )
    # Outside the period on both sides, in local time (but not in UTC dates).
    quote("gina", S.SUBMITTED, QuoteSource.CHAT, 10, submitted_at=at("2026-03-15 22:30"))
    quote("gina", S.SUBMITTED, QuoteSource.CHAT, 10, submitted_at=at("2026-04-05 22:00"))

    # Delivery counters as app/newsletter/sending.py sets them from the delivery rows.
    make_edition(
        status=EditionStatus.SENT,
        number=1,
        items=[s1, q1],
        sent_at=at("2026-03-20 08:00"),
        recipients_count=4,
        sent_count=3,
        failed_count=1,
        web_views=12,
    )
    make_edition(
        status=EditionStatus.SENT,
        number=2,
        items=[s6],
        sent_at=at("2026-03-25 08:00"),
        recipients_count=5,
        sent_count=4,
        failed_count=1,
        web_views=3,
    )
    make_edition(status=EditionStatus.DRAFT, number=3, items=[q2])
    make_edition(
        status=EditionStatus.SENT,
        number=4,
        items=[s2],
        sent_at=at("2026-04-03 08:30"),
        recipients_count=2,
        sent_count=2,
    )
    make_edition(
        status=EditionStatus.SENT,
        number=5,
        sent_at=at("2026-03-01 08:00"),
        recipients_count=7,
        sent_count=7,
    )
    for name in ("alice", "bob", "carol"):
        _db.session.add(Reaction(user_id=u[name].id, story_id=s1.id))
    _db.session.add(Reaction(user_id=u["dave"].id, story_id=s6.id))
    u["bob"].email_opt_out, u["bob"].opted_out_at = True, at("2026-03-22 10:00")
    u["carol"].email_opt_out, u["carol"].opted_out_at = True, at("2026-04-04 10:00")
    u["dave"].opted_out_at = at("2026-03-21 10:00")  # opted out, then back in
    _db.session.flush()
    # Set last: any later UPDATE of the row would stamp updated_at again.
    _db.session.execute(
        sa.update(Quote).where(Quote.id == q4.id).values(updated_at=at("2026-04-02 10:00"))
    )
    _db.session.commit()
    period = build_period("custom", date(2026, 3, 16), date(2026, 4, 5), PARIS)
    return World({"Front": front, "Back": back, "Silent": silent}, u, period)


def test_participation_per_week_in_local_weeks(world):
    data = queries.participation(world.all)
    assert [w.week.iso_label for w in data.weeks] == ["2026-W12", "2026-W13", "2026-W14"]
    assert [w.stories_submitted for w in data.weeks] == [2, 1, 2]
    assert [w.quotes_submitted for w in data.weeks] == [2, 2, 1]
    assert [w.approved for w in data.weeks] == [2, 1, 1]
    assert [w.published for w in data.weeks] == [2, 1, 1]


def test_participation_shares_and_new_contributors(world):
    data = queries.participation(world.all)
    # Active: everyone but Frank. Contributors: Alice, Bob, Carol, Dave, Erin (Frank is inactive).
    assert (data.active_employees, data.contributors) == (7, 5)
    assert data.contributor_share == 71.4
    # Recognized in a story published in the period: Carol, Dave (s1, s2) and Alice (s6).
    assert (data.recognized, data.recognized_share) == (3, 42.9)
    # First submission ever: Bob, Carol, Dave, Erin, Frank; Alice submitted before.
    assert data.new_contributors == 5


@pytest.mark.parametrize("team", [None, "Front", "Silent"])
def test_the_whole_page_shares_the_recognized_count(world, team):
    filters = world.team(team) if team else world.all
    page = queries.insights(filters)
    assert page.participation == queries.participation(filters)
    assert page.participation.recognized == page.recognition.recognized


def test_participation_for_one_team(world):
    data = queries.participation(world.team("Front"))
    assert [w.stories_submitted for w in data.weeks] == [1, 1, 1]
    assert [w.quotes_submitted for w in data.weeks] == [0, 1, 1]
    assert (data.active_employees, data.contributors, data.contributor_share) == (3, 2, 66.7)
    assert data.recognized == 1  # Alice, recognized in Gina's team-less story
    assert data.new_contributors == 1  # Bob


def test_recognition_coverage(world):
    data = queries.recognition_coverage(world.all)
    rows = [(t.name, t.headcount, t.recognized, t.recognitions, t.share) for t in data.teams]
    assert rows == [
        ("Back", 2, 2, 3, 100.0),
        ("Front", 3, 1, 1, 33.3),
        ("No team", 1, 0, 0, 0.0),
        ("Silent", 1, 0, 0, 0.0),
    ]
    assert [t.name for t in data.teams_without_recognition] == ["Silent"]
    assert [(p.name, p.team, p.stories) for p in data.people] == [
        ("Carol", "Back", 2),
        ("Alice", "Front", 1),
        ("Dave", "Back", 1),
    ]
    assert data.unnamed_recognitions == 1
    front = queries.recognition_coverage(world.team("Front"))
    assert [(t.name, t.recognized) for t in front.teams] == [("Front", 1)]
    assert [p.name for p in front.people] == ["Alice"]
    assert front.unnamed_recognitions is None  # free-text names belong to no team


def test_touchpoints_over_time_and_per_team(world, db):
    data = queries.touchpoints(world.all)
    labels = dict(db.session.execute(sa.select(Touchpoint.slug, Touchpoint.label)).all())
    series = {s.label: s.weekly for s in data.series}
    assert series[labels["store"]] == [1, 0, 0]
    assert series[labels["phone"]] == [0, 0, 1]
    assert series[queries.NO_TOUCHPOINT] == [0, 1, 0]
    assert series[labels["chat"]] == [0, 0, 0]
    assert data.total == 3
    assert {s.label for s in data.gaps} == {
        labels[slug] for slug in ("chat", "email", "web", "field", "social", "other")
    }
    columns = [s.label for s in data.series]
    teams = {t.name: dict(zip(columns, t.counts, strict=True)) for t in data.teams}
    assert [t.name for t in data.teams] == ["Back", "Front", "Silent", "No team"]
    assert teams["Front"][labels["store"]] == 1 and teams["Front"][labels["phone"]] == 1
    assert sum(teams["Back"].values()) == 0
    assert teams["No team"][queries.NO_TOUCHPOINT] == 1


def test_curated_quotes(world):
    data = queries.curated_quotes(world.all)
    by_source = dict(data.by_source)
    assert by_source[QuoteSource.SURVEY] == 3
    assert by_source[QuoteSource.EMAIL] == 1 and by_source[QuoteSource.CALL] == 1
    assert by_source[QuoteSource.CHAT] == 0  # both chat quotes are just outside, in Paris time
    assert data.quotes == 5
    assert data.nps_counts == [0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1]
    assert (data.promoters, data.passives, data.detractors) == (2, 0, 2)
    assert data.average_score == 7.0  # (10 + 9 + 6 + 3) / 4
    # q1 went out in edition 1; q2 sits in a draft edition, which does not count.
    assert (data.promoters_in_edition, data.promoters_in_edition_share) == (1, 50.0)


def test_editorial_flow(world):
    data = queries.editorial_flow(world.all)
    # Decision times in hours: 6, 12, 24, 24, 24, 30, 336.
    assert (data.median_hours_to_decision, data.decisions) == (24.0, 7)
    # Approval to publication: 22, 46, 95, 526 hours -> (46 + 95) / 2.
    assert (data.median_hours_to_publication, data.publications) == (70.5, 4)
    assert (data.approved, data.rejected, data.changes_requested) == (4, 2, 1)
    assert data.acceptance_rate == 66.7
    # Waiting at the start: s4 and Gina's quote of Sunday 15 March, 23:30 in Paris.
    assert data.queue_at_start == 2
    assert [(q.submitted, q.left, q.waiting) for q in data.queue] == [
        (4, 4, 2),
        (3, 2, 3),
        (3, 2, 4),  # Gina's quote at 00:00 on Monday 6 April is after the period
    ]
    assert data.queue_now == 4


def test_editorial_flow_median_of_an_even_sample_and_of_nothing(world):
    front = queries.editorial_flow(world.team("Front"))
    # Front decisions: s1 24 h, s2 12 h, s4 336 h, q3 30 h -> (24 + 30) / 2.
    assert front.median_hours_to_decision == 27.0
    silent = queries.editorial_flow(world.team("Silent"))
    assert silent.median_hours_to_decision == 15.0  # (24 + 6) / 2
    assert silent.acceptance_rate == 50.0  # q1 published, Frank's q5 rejected
    back = queries.editorial_flow(world.team("Back"))
    assert (back.median_hours_to_publication, back.publications) == (None, 0)
    assert (back.changes_requested, back.acceptance_rate) == (1, None)


def test_newsletter_health(world):
    data = queries.newsletter_health(world.all)
    rows = [
        (e.number, e.recipients, e.sent, e.failed, e.unsubscribed_since, e.web_views, e.reactions)
        for e in data.editions
    ]
    assert rows == [
        (1, 4, 3, 1, 2, 12, 3),
        (2, 5, 4, 1, 1, 3, 1),
        (4, 2, 2, 0, 1, 0, 0),  # Carol opted out after it; Dave opted back in
    ]
    assert data.unsubscribed_in_period == 2
    assert (data.recipients, data.sent, data.delivery_rate) == (11, 9, 81.8)


def test_year_boundary_with_iso_week_53(db, make_user, make_quote):
    set_settings({"timezone": PARIS}, actor=None)
    author = make_user()
    for when in (
        "2026-12-27 22:30",  # Sunday 23:30 in Paris: W52
        "2026-12-27 23:30",  # Monday 28 Dec 00:30 in Paris: W53
        "2027-01-01 12:00",  # W53
        "2027-01-03 23:15",  # Monday 4 Jan 00:15 in Paris: 2027-W01
        "2027-01-10 23:30",  # Monday 11 Jan in Paris: after the period
    ):
        make_quote(author, status=S.SUBMITTED, submitted_at=at(when))
    db.session.commit()
    period = build_period("custom", date(2026, 12, 21), date(2027, 1, 10), PARIS)
    data = queries.participation(Filters(period))
    assert [(w.week.iso_label, w.quotes_submitted) for w in data.weeks] == [
        ("2026-W52", 1),
        ("2026-W53", 2),
        ("2027-W01", 1),
    ]
    flow = queries.editorial_flow(Filters(period))
    assert [q.waiting for q in flow.queue] == [1, 3, 4]


def test_a_one_day_period_is_one_partial_week(world):
    period = build_period("custom", date(2026, 3, 20), date(2026, 3, 20), PARIS)
    data = queries.participation(Filters(period))
    assert [(w.week.iso_label, w.week.is_partial) for w in data.weeks] == [("2026-W12", True)]
    assert (data.weeks[0].published, data.weeks[0].stories_submitted) == (2, 1)  # s1, q1; s5
    assert [q.left for q in queries.editorial_flow(Filters(period)).queue] == [0]


def test_everything_is_empty_without_data(db):
    period = build_period("custom", date(2026, 3, 16), date(2026, 4, 5), "UTC")
    data = queries.insights(Filters(period))
    assert data.participation.is_empty and data.participation.contributor_share is None
    assert data.recognition.recognized == 0
    assert data.touchpoints.is_empty and data.quotes.is_empty
    assert data.voice.is_empty and data.voice.nps.net is None
    assert data.flow.is_empty and data.flow.median_hours_to_decision is None
    assert data.newsletter.is_empty and data.newsletter.delivery_rate is None


@pytest.mark.parametrize("ordered_from_weeks", [1, 10_000], ids=["index-order", "sorted"])
def test_medians_agree_whether_read_in_index_order_or_sorted(
    world, monkeypatch, ordered_from_weeks
):
    monkeypatch.setattr(queries, "ORDERED_MEDIAN_WEEKS", ordered_from_weeks)
    with count_queries() as log:
        data = queries.editorial_flow(world.all)
    assert (data.median_hours_to_decision, data.median_hours_to_publication) == (24.0, 70.5)
    assert queries.editorial_flow(world.team("Front")).median_hours_to_decision == 27.0
    in_order = any("+stories.decided_at" in s for s in log.statements)
    assert in_order == (ordered_from_weeks == 1 and _db.engine.dialect.name == "sqlite")


def test_stored_durations_follow_the_workflow(db, make_user, make_story):
    """The model keeps decision/publication seconds in step with the timestamps, whoever sets
    them; a resubmitted item has no decision this round until it is decided again."""
    author, editor = make_user(), make_user(Role.EDITOR)
    story = make_story(author, status="draft")
    db.session.commit()
    assert (story.decision_seconds, story.publication_seconds) == (None, None)

    t0 = at("2026-03-02 09:00")
    transition_submission(story, S.SUBMITTED, actor=author, now=t0)
    transition_submission(
        story, S.CHANGES_REQUESTED, actor=editor, note="Add a date", now=t0 + timedelta(hours=5)
    )
    db.session.commit()
    assert story.decision_seconds == 5 * 3600

    transition_submission(story, S.SUBMITTED, actor=author, now=t0 + timedelta(days=1))
    db.session.commit()
    assert story.decision_seconds is None  # the earlier decision answered an earlier round

    transition_submission(story, S.APPROVED, actor=editor, now=t0 + timedelta(days=1, hours=2))
    transition_submission(story, S.PUBLISHED, actor=None, now=t0 + timedelta(days=4, seconds=30))
    db.session.commit()
    db.session.expire_all()
    assert story.decision_seconds == 2 * 3600
    assert story.publication_seconds == 3 * 86400 - 2 * 3600 + 30
