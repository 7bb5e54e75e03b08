"""The edition's readership report, from events inserted directly: the figures at their limits,
the comparison with previous editions, "did my team read it", "not measured", who sees it, and
a query count that does not grow with stories, recipients or events."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.engagement import queries
from app.engagement.queries import EngagementEvent
from app.engagement.report import comparisons
from app.extensions import db
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import Edition
from app.models import EditionStatus
from app.models import Reaction
from app.models import Story
from app.models import SubmissionStatus
from app.models import utcnow
from app.settings import set_settings
from tests import factories
from tests.querycount import count_queries

# What a frozen email carries with opens and clicks measured (app/engagement/links.py).
TRACKED = (
    '<p><a href="https://fgf.example/r/tok/%%FGF:TRACK%%">Read</a></p>'
    '<img src="https://fgf.example/o/tok/%%FGF:TRACK%%.gif" alt="" width="1" height="1">'
)
CLICKS_ONLY = '<p><a href="https://fgf.example/r/tok/%%FGF:TRACK%%">Read</a></p>'
UNTRACKED = '<p><a href="https://example.com/">Read</a></p>'
BASE = datetime(2026, 9, 4, 9, 0, tzinfo=UTC)


def sent(
    number: int,
    *,
    stories: int = 2,
    quotes: int = 0,
    delivered: int = 10,
    html: str = TRACKED,
    sent_at: datetime | None = None,
    web_views: int = 0,
) -> Edition:
    """A sent edition with frozen content (so its page costs the same whatever its size)."""
    author = factories.make_user()
    items = [
        factories.make_story(author, status=SubmissionStatus.PUBLISHED,
                             title=f"Story {number}.{i}")
        for i in range(stories)
    ] + [
        factories.make_quote(author, status=SubmissionStatus.PUBLISHED,
                             text=f"Quote {number}.{i} made my week.")
        for i in range(quotes)
    ]
    return factories.make_edition(
        status=EditionStatus.SENT,
        number=number,
        items=items,
        sent_at=sent_at or BASE + timedelta(weeks=number),
        recipients_count=delivered,
        sent_count=delivered,
        web_views=web_views,
        content_html=html,
        content_text="Read",
        web_html=f"<h2>Edition {number}</h2>",
    )


def events(edition: Edition, kind: str, tags, *, item=None, user_ids=None) -> None:
    """Bulk insert: one row per tag (several rows may share a tag: repeats)."""
    kind_, item_id = (item.kind, item.id) if item is not None else (None, None)
    rows = [
        {"edition_id": edition.id, "kind": kind, "tag": tag, "item_kind": kind_,
         "item_id": item_id, "user_id": user_ids[i] if user_ids else None, "at": utcnow()}
        for i, tag in enumerate(tags)
    ]
    if rows:
        db.session.execute(sa.insert(EngagementEvent), rows)


def stories_of(edition: Edition):
    return [i.story for i in edition.items if i.story is not None]


def figure(page: str, key: str) -> str:
    match = re.search(rf'data-figure="{key}">\s*<span class="stat__value" data-value="([^"]*)"',
                      page)
    assert match, key
    return match.group(1)


def item_clickers(page: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-item="([^"]+)" data-clickers="(\d+)"', page)}


# Figures ------------------------------------------------------------------------------------------
def test_unique_opens_clicks_and_proxy_opens_count_messages_not_events(app):
    edition = sent(1, delivered=8, web_views=5)
    first, second = stories_of(edition)
    events(edition, "open", ["a", "a", "b", "c"])  # a opened twice: one message
    events(edition, "proxy_open", ["d", "d", "e"])  # privacy proxy: apart, not a read
    events(edition, "click", ["a", "a", "b"], item=first)
    events(edition, "click", ["a"], item=second)
    events(edition, "click", ["f"])  # a link outside the stories (the web version)
    db.session.commit()

    report = queries.edition_readership(edition)
    f = report.current
    assert (f.delivered, f.opened, f.proxy_opened, f.clicked) == (8, 3, 2, 3)
    assert (f.open_rate, f.click_rate, f.click_to_open) == (37.5, 37.5, 100.0)
    assert f.web_reads == 5 and f.opens_measured and f.clicks_measured
    rows = {(r.item_kind, r.item_id): r for r in report.items}
    assert rows["story", first.id].clickers == 2 and rows["story", first.id].rate == 25.0
    assert rows["story", second.id].clickers == 1
    assert rows[None, None].clickers == 1 and rows[None, None].title == queries.OTHER_LINKS
    assert [r.item_id for r in report.items] == [first.id, second.id, None]  # most clicked first
    assert report.previous == [] and comparisons(report) == []


def test_zero_recipients_and_zero_events_give_no_rates_and_no_division(app, editor_client):
    edition = sent(1, delivered=0)
    db.session.commit()
    f = queries.edition_readership(edition).current
    assert (f.delivered, f.opened, f.clicked, f.proxy_opened) == (0, 0, 0, 0)
    assert f.open_rate is None and f.click_rate is None and f.click_to_open is None
    page = editor_client.get("/editions/1").get_data(as_text=True)
    assert figure(page, "delivered") == "0" and figure(page, "opened") == "0"
    assert "First edition: nothing to compare yet." in page
    assert 'data-item="story-' in page  # both stories listed with 0 clickers
    assert set(item_clickers(page).values()) == {0}


def test_an_edition_of_quotes_only_lists_the_quotes(app, editor_client):
    edition = sent(1, stories=0, quotes=2, delivered=4)
    quote = edition.items[0].quote
    events(edition, "click", ["x", "y"], item=quote)
    db.session.commit()
    page = editor_client.get("/editions/1").get_data(as_text=True)
    assert item_clickers(page) == {f"quote-{quote.id}": 2, f"quote-{edition.items[1].quote.id}": 0}
    assert "Quote:</span> Quote 1.0 made my week." in page
    assert figure(page, "clicked") == "2"


def test_a_deleted_story_keeps_its_clicks_under_a_neutral_name(app, editor_client):
    edition = sent(1, delivered=10)
    gone, kept = stories_of(edition)
    events(edition, "click", ["a", "b", "c"], item=gone)
    events(edition, "click", ["a"], item=kept)
    db.session.commit()
    gone_id = gone.id
    db.session.execute(sa.delete(Story).where(Story.id == gone_id))  # items go by cascade
    db.session.commit()
    db.session.expire_all()
    page = editor_client.get("/editions/1").get_data(as_text=True)
    assert item_clickers(page) == {f"story-{gone_id}": 3, f"story-{kept.id}": 1}
    assert "A deleted story" in page and "Story 1.0" not in page
    assert figure(page, "clicked") == "3"


def test_twenty_thousand_events_from_five_thousand_messages(app, editor_client):
    edition = sent(1, stories=3, delivered=6000)
    stories = stories_of(edition)
    tags = [f"t{i:05d}" for i in range(5000)]
    events(edition, "open", tags * 2)  # 10,000: every message opened twice
    events(edition, "proxy_open", tags[:1000])  # 1,000
    events(edition, "click", tags[:3000] * 2, item=stories[0])  # 6,000
    events(edition, "click", tags[:1000] + tags[4000:] + tags[:1000], item=stories[1])  # 3,000
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EngagementEvent)) == 20000
    db.session.commit()

    report = queries.edition_readership(edition)
    f = report.current
    assert (f.opened, f.proxy_opened, f.clicked) == (5000, 1000, 4000)
    assert (f.open_rate, f.click_rate, f.click_to_open) == (83.3, 66.7, 80.0)
    assert [(r.item_id, r.clickers) for r in report.items] == [
        (stories[0].id, 3000), (stories[1].id, 2000), (stories[2].id, 0)
    ]
    page = editor_client.get("/editions/1").get_data(as_text=True)
    assert figure(page, "opened") == "5000" and "5,000" in page
    assert figure(page, "proxy") == "1000" and figure(page, "clicked") == "4000"
    assert "83.3 % of delivered" in page and "80.0 % of openers" in page


# Measured or not ----------------------------------------------------------------------------------
def test_opens_off_at_send_time_reads_not_measured_not_zero(app, editor_client):
    sent(1, html=CLICKS_ONLY)
    db.session.commit()
    page = editor_client.get("/editions/1").get_data(as_text=True)
    assert figure(page, "opened") == "" and figure(page, "proxy") == ""
    assert figure(page, "clicked") == "0"
    opened = page[page.index('data-figure="opened"'):page.index('data-figure="clicked"')]
    assert "not measured" in opened and ">0<" not in opened
    assert "Counting opens was off when this edition was sent" in page


def test_an_edition_sent_before_tracking_measured_neither(app, editor_client):
    sent(1, html=UNTRACKED)
    db.session.commit()
    page = editor_client.get("/editions/1").get_data(as_text=True)
    assert figure(page, "opened") == "" and figure(page, "clicked") == ""
    assert "Clicks were not measured for this edition." in page


# Comparison ---------------------------------------------------------------------------------------
def test_comparison_with_fewer_than_four_previous_editions(app):
    old = sent(1, delivered=10)  # 20 % open rate
    events(old, "open", ["a", "b"])
    untracked = sent(2, delivered=10, html=UNTRACKED)  # left out of the rate averages
    previous = sent(3, delivered=20)  # 40 % open rate
    events(previous, "open", [f"p{i}" for i in range(8)])
    current = sent(4, delivered=20)  # 50 %
    events(current, "open", [f"c{i}" for i in range(10)])
    db.session.add(Reaction(user=factories.make_user(), story_id=stories_of(current)[0].id))
    db.session.commit()

    report = queries.edition_readership(current)
    assert [p.number for p in report.previous] == [3, 2, 1]
    rows = {c.label: c for c in comparisons(report)}
    opens = rows["Open rate"]
    assert (opens.value, opens.average, opens.compared) == (50.0, 30.0, 2)
    assert opens.direction == "up" and opens.delta_text == "▲ 20.0 pts" and opens.tone == "good"
    delivered = rows["Delivered"]
    assert (delivered.average, delivered.compared, delivered.delta) == (13.3, 3, 6.7)
    assert rows["Applause"].value == 1 and rows["Applause"].direction == "up"
    assert untracked.id not in {p.edition_id for p in report.previous if p.opens_measured}
    assert report.previous[1].open_rate is None


def test_comparison_takes_the_four_editions_sent_just_before(app, editor_client):
    for number in range(1, 8):
        sent(number, delivered=number * 10)
    unsent = factories.make_edition(status=EditionStatus.DRAFT, number=8)
    db.session.commit()
    report = queries.edition_readership(db.session.get(Edition, 6))
    assert [p.number for p in report.previous] == [5, 4, 3, 2]  # not 7 (later), not the draft
    assert queries.edition_readership(unsent) is None
    page = editor_client.get("/editions/6").get_data(as_text=True)
    assert "Average of the previous 4" in page
    row = page[page.index('data-compare="Delivered"'):]
    assert "60" in row[:300] and "35" in row[:300] and "▲ 25" in row[:300]
    assert 'data-compare="Unsubscribed since"' not in page


def test_unsubscribes_are_shown_but_never_compared(app, editor_client):
    """"Unsubscribed since" adds up until now, so an older edition has always had longer to
    collect opt-outs: comparing it would make every new edition look better than the last."""
    for number in range(1, 5):
        sent(number)
    current = sent(5)
    db.session.commit()
    for week in range(1, 6):  # one opt-out in the week after each send
        factories.make_user(email_opt_out=True, opted_out_at=BASE + timedelta(weeks=week, days=1))
    db.session.commit()
    report = queries.edition_readership(current)
    assert [p.unsubscribed for p in report.previous] == [2, 3, 4, 5]  # #4..#1: older, more
    assert report.current.unsubscribed == 1
    labels = [c.label for c in comparisons(report)]
    assert labels and not any("nsubscribe" in label for label in labels)
    page = editor_client.get("/editions/5").get_data(as_text=True)
    assert 'data-figure="unsubscribed"' in page and "Unsubscribed since" in page
    assert 'data-compare="Unsubscribed since"' not in page
    assert "unsubscribes are not compared" in page


# Per-person mode: did my team read it? ------------------------------------------------------------
def _deliver(edition: Edition, users) -> None:
    for user in users:
        db.session.add(Delivery(edition_id=edition.id, email=user.email, user_id=user.id,
                                status=DeliveryStatus.SENT, message_id=f"<{user.id}@t>"))


def test_teams_with_rates_and_small_teams_grouped(app, editor_client):
    set_settings({"analytics_mode": "person"}, actor=None)
    support, sales, legal, tax = (factories.make_team(n) for n in ("Support", "Sales", "Legal",
                                                                     "Tax"))
    people = {
        "support": [factories.make_user(team=support) for _ in range(6)],
        "sales": [factories.make_user(team=sales) for _ in range(5)],
        "legal": [factories.make_user(team=legal) for _ in range(4)],  # 4 + 1: a group of 5
        "tax": [factories.make_user(team=tax) for _ in range(1)],
    }
    teamless = factories.make_user(team=None)  # "No team", 1: among the small ones
    edition = sent(1, delivered=17)
    _deliver(edition, [u for group in people.values() for u in group] + [teamless])
    readers = people["support"][:3] + people["sales"][:1] + people["legal"][:1]
    events(edition, "open", [f"d{u.id}" for u in readers] * 2,
           user_ids=[u.id for u in readers] * 2)
    clickers = people["support"][:1] + people["tax"]
    events(edition, "click", [f"d{u.id}" for u in clickers], item=stories_of(edition)[0],
           user_ids=[u.id for u in clickers])
    events(edition, "open", ["anonymous"])  # anonymized or aggregate-era: totals only
    db.session.commit()

    report = queries.edition_readership(edition)
    teams = {t.name: t for t in report.teams}
    assert list(teams) == ["Sales", "Support", queries.SMALL_TEAMS]
    assert (teams["Support"].recipients, teams["Support"].opened, teams["Support"].clicked) == (
        6, 3, 1)
    assert teams["Support"].open_rate == 50.0 and teams["Sales"].click_rate == 0.0
    small = teams[queries.SMALL_TEAMS]
    assert (small.recipients, small.opened, small.clicked, small.teams) == (6, 1, 1, 3)
    assert small.open_rate == 16.7 and not small.withheld
    assert report.current.opened == 6

    page = editor_client.get("/editions/1").get_data(as_text=True)
    assert "Did my team read it?" in page and 'data-mode="person"' in page
    assert 'data-team="Small teams"' in page and "(3 teams)" in page
    assert "Legal" not in page and "Tax" not in page and "No team" not in page
    for user in readers:  # never a list of individuals
        assert user.display_name not in page and user.email not in page


def test_small_teams_fewer_than_five_even_together_show_no_reads(app, editor_client):
    set_settings({"analytics_mode": "person"}, actor=None)
    big, legal = factories.make_team("Support"), factories.make_team("Legal")
    staff = [factories.make_user(team=big) for _ in range(5)]
    lawyers = [factories.make_user(team=legal) for _ in range(4)]
    edition = sent(1, delivered=9)
    _deliver(edition, staff + lawyers)
    events(edition, "open", [f"d{u.id}" for u in lawyers[:1]], user_ids=[lawyers[0].id])
    db.session.commit()

    teams = {t.name: t for t in queries.edition_readership(edition).teams}
    small = teams[queries.SMALL_TEAMS]
    assert (small.recipients, small.opened, small.clicked, small.withheld) == (4, None, None, True)
    assert small.open_rate is None and teams["Support"].opened == 0
    page = editor_client.get("/editions/1").get_data(as_text=True)
    row = page[page.index('data-team="Small teams"'):]
    row = row[:row.index("</tr>")]
    assert "too few recipients to show" in row and "25.0" not in row and ">1<" not in row


def test_aggregate_mode_shows_no_team_table(app, editor_client):
    team = factories.make_team("Support")
    users = [factories.make_user(team=team) for _ in range(6)]
    edition = sent(1)
    _deliver(edition, users)
    db.session.commit()
    assert queries.edition_readership(edition).teams is None
    page = editor_client.get("/editions/1").get_data(as_text=True)
    assert 'data-mode="aggregate"' in page and "Aggregate only" in page
    assert "Did my team read it?" not in page and "data-team=" not in page


def test_team_table_after_the_retention_period_explains_why_it_is_empty(app, editor_client):
    set_settings({"analytics_mode": "person", "engagement_person_days": 30}, actor=None)
    sent(1, sent_at=utcnow() - timedelta(days=31))
    db.session.commit()
    page = editor_client.get("/editions/1").get_data(as_text=True)
    assert "more than 30 days ago" in page and "data-team=" not in page


# Who sees it --------------------------------------------------------------------------------------
def test_only_curators_see_the_report(app, employee_client, admin_client, editor_client):
    sent(1)
    db.session.commit()
    assert "data-readership" not in employee_client.get("/editions/1").get_data(as_text=True)
    assert "data-readership" in admin_client.get("/editions/1").get_data(as_text=True)
    page = editor_client.get("/editions/1").get_data(as_text=True)
    assert "data-readership" in page and "css/report.css" in page
    assert "Opens are a lower bound" in page and "Apple Mail Privacy Protection" in page


def test_an_unsent_edition_has_no_report(app, editor_client):
    factories.make_edition(status=EditionStatus.SCHEDULED, number=1, subject="Soon")
    db.session.commit()
    page = editor_client.get("/editions/1").get_data(as_text=True)
    assert "data-readership" not in page and "css/report.css" not in page


# Cost ---------------------------------------------------------------------------------------------
def _page_queries(client, number: int) -> list[str]:
    with count_queries() as log:
        response = client.get(f"/editions/{number}")
    assert response.status_code == 200
    return log.statements


@pytest.mark.parametrize("mode", ["aggregate", "person"])
def test_the_page_costs_the_same_for_2_or_12_stories_and_10_or_500_events(
    app, editor_client, mode
):
    set_settings({"analytics_mode": mode}, actor=None)
    team = factories.make_team("Support")
    for number, stories, n_events in ((1, 2, 10), (2, 12, 500)):
        edition = sent(number, stories=stories, delivered=n_events)
        users = [factories.make_user(team=team) for _ in range(n_events // 5)]
        _deliver(edition, users)
        items = stories_of(edition)
        tags = [f"d{u.id}" for u in users]
        events(edition, "open", tags * 2, user_ids=[u.id for u in users] * 2)
        for i, item in enumerate(items):
            part = tags[i::len(items)]
            events(edition, "click", part, item=item,
                   user_ids=[int(t[1:]) for t in part])
        events(edition, "proxy_open", tags[: n_events // 10])
        db.session.add(Reaction(user=users[0], story_id=items[0].id))
        db.session.commit()

    _page_queries(editor_client, 2)  # warm-up: the first request also loads the session user
    small = _page_queries(editor_client, 1)
    large = _page_queries(editor_client, 2)
    assert len(small) == len(large), '\n'.join(
        f'{a[:90]!r} | {b[:90]!r}' for a, b in zip(small + [''], large, strict=False))
    with count_queries() as log:
        report = queries.edition_readership(db.session.get(Edition, 2))
        comparisons(report)
    assert log.count == (5 if mode == "person" else 4), log.statements
    assert len(report.items) == 12 and report.current.opened == 100


def test_postgresql_plans_use_the_engagement_indexes(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("plans checked on PostgreSQL")
    edition = sent(1, stories=2, delivered=5000)
    first, second = stories_of(edition)
    tags = [f"t{i}" for i in range(5000)]
    events(edition, "open", tags * 2)  # a 20,000-event edition
    events(edition, "proxy_open", tags[:2000])
    events(edition, "click", tags[:3000] * 2, item=first)
    events(edition, "click", tags[:2000], item=second)
    for other in range(2, 6):  # other editions' rows the indexes must skip
        events(sent(other), "open", [f"o{i}" for i in range(2000)])
    db.session.commit()
    db.session.execute(sa.text("ANALYZE engagement_events"))

    def plan(stmt) -> str:
        compiled = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
        return "\n".join(db.session.execute(sa.text(f"EXPLAIN {compiled}")).scalars())

    counts = sa.select(*queries.figure_columns()).where(Edition.id == edition.id)
    assert "ix_engagement_events_edition_kind_tag" in plan(counts)
    clicks = (
        sa.select(EngagementEvent.item_kind, EngagementEvent.item_id,
                  sa.func.count(sa.distinct(EngagementEvent.tag)))
        .where(EngagementEvent.edition_id == edition.id, EngagementEvent.kind == "click")
        .group_by(EngagementEvent.item_kind, EngagementEvent.item_id)
    )
    assert "ix_engagement_events_edition" in plan(clicks)
    assert "Seq Scan on engagement_events" not in plan(counts)
