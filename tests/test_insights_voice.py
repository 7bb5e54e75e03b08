"""The insights' customer-voice section: scores from every stored response (verbatims), not from
curated quotes, against a small dataset whose answers are worked out below.

The period is Monday 2 March – Sunday 29 March 2026: four Monday weeks, W10 to W13. NPS responses
(P promoter 9–10, p passive 7–8, D detractor 0–6), by week:

    team   touchpoint  W10 (2–8)          W11 (9–15)        W12   W13 (23–29)
    Front  Store       10 9f 8 6x         9x 7                    10 8f 0 9
    Back   Phone                          3 5 9
    –      –                                                      10

f = filtered (kept for its score, no text), x = dismissed: both count like any other response.
Front: 5 P, 3 p, 2 D = +30 from 10. Back: 1 P, 2 D = -33 from 3. All: 7 P, 3 p, 4 D = +21 from
14. Outside the period: Sunday 1 March and Monday 30 March.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db as _db
from app.insights import charts
from app.insights import queries
from app.insights import report
from app.insights.periods import build_period
from app.insights.queries import BandCounts
from app.insights.queries import Filters
from app.models import EditionStatus
from app.models import Origin
from app.models import QuoteSource
from app.models import Scale
from app.models import Verbatim
from app.models import VerbatimStatus
from app.models import VoiceSource
from app.settings import set_settings
from app.voice.scores import band
from tests.factories import touchpoint
from tests.querycount import count_queries
from tests.test_insights_views import page_tables

PARIS = "Europe/Paris"
START, END = date(2026, 3, 2), date(2026, 3, 29)
PERIOD = {"period": "custom", "from": START.isoformat(), "to": END.isoformat()}
VOICE_FIGURES = [slug for slug, section in report.FIGURE_SECTIONS.items() if section == "voice"]
F, X = VerbatimStatus.FILTERED, VerbatimStatus.DISMISSED


def day(d: int) -> date:
    return date(2026, 3, d) if d > 0 else START + timedelta(days=d - 1)


@pytest.fixture
def source(db):
    set_settings({"timezone": PARIS}, actor=None)
    source = VoiceSource(
        slug="survey", name="NPS survey", origin=Origin.IMPORT, channel=QuoteSource.SURVEY
    )
    db.session.add(source)
    db.session.flush()
    return source


@pytest.fixture
def add(db, source):
    """add(score, received_on, ...) stores one verbatim as the intake would (band included)."""

    def add(
        score,
        received_on,
        *,
        scale=Scale.NPS,
        team=None,
        tp=None,
        status=VerbatimStatus.NEW,
        text="Lovely service, thank you.",
        mentions=False,
        quote=None,
        story=None,
    ) -> Verbatim:
        verbatim = Verbatim(
            source_id=source.id,
            origin=Origin.IMPORT,
            text=None if status == F else text,
            scale=scale if score is not None else None,
            score=score,
            band=band(scale, score) if score is not None else None,
            channel=QuoteSource.SURVEY,
            team_id=team.id if team else None,
            touchpoint_id=touchpoint(tp).id if tp else None,
            received_on=received_on,
            mentions_colleague=mentions,
            status=status,
            quote_id=quote.id if quote else None,
            story_id=story.id if story else None,
        )
        db.session.add(verbatim)
        db.session.flush()
        return verbatim

    return add


@pytest.fixture
def voice(db, add, make_team):
    front, back = make_team("Front"), make_team("Back")
    for score, d, status in [
        (10, 2, None),
        (9, 4, F),
        (8, 5, None),
        (6, 8, X),
        (9, 10, X),
        (7, 12, None),
        (10, 23, None),
        (8, 24, F),
        (0, 26, None),
        (9, 29, None),
    ]:
        add(score, day(d), team=front, tp="store", status=status or VerbatimStatus.NEW)
    for score, d in [(3, 11), (5, 13), (9, 15)]:
        add(score, day(d), team=back, tp="phone")
    add(10, day(25))
    # The day before and the day after the period.
    add(10, day(0), team=front, tp="store")
    add(0, date(2026, 3, 30), team=front, tp="store")
    add(None, day(10), team=front, text="No score: an email")  # not a response
    # CSAT: Front 5 5 4 3 1 (3 of 5 satisfied), Back 2. CES: Front 7 4 (1 of 2 easy).
    for score in (5, 5, 4, 3, 1):
        add(score, day(9), scale=Scale.CSAT, team=front, tp="store")
    add(2, day(9), scale=Scale.CSAT, team=back, tp="phone")
    for score in (7, 4):
        add(score, day(9), scale=Scale.CES, team=front)
    db.session.commit()
    return {"Front": front, "Back": back}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def period(start: date = START, end: date = END):
    return build_period("custom", start, end, PARIS)


def groups(rows) -> list[tuple[str, int, int | None, bool]]:
    return [(g.name, g.counts.responses, g.counts.net, g.counts.small_sample) for g in rows]


# Exact figures ----------------------------------------------------------------------------------
def test_nps_counts_every_response_in_the_period(voice):
    data = queries.customer_voice(Filters(period()))
    nps = data.nps
    assert (nps.promoters, nps.passives, nps.detractors, nps.responses) == (7, 3, 4, 14)
    assert nps.net == 21  # 100 * (7 - 4) / 14 = 21.4
    assert (nps.promoter_share, nps.passive_share, nps.detractor_share) == (50.0, 21.4, 28.6)
    assert nps.small_sample


def test_team_filter_gives_the_hand_computed_mix(voice):
    data = queries.customer_voice(Filters(period(), voice["Front"].id))
    # 5 promoters (one filtered, one dismissed), 3 passives (one filtered), 2 detractors (one
    # dismissed): +30 from 10.
    assert (data.nps.promoters, data.nps.passives, data.nps.detractors) == (5, 3, 2)
    assert (data.nps.net, data.nps.responses) == (30, 10)
    assert (data.nps.promoter_share, data.nps.passive_share, data.nps.detractor_share) == (
        50.0,
        30.0,
        20.0,
    )
    assert groups(data.teams) == [("Front", 10, 30, True)]
    assert groups(data.touchpoints) == [("Store", 10, 30, True)]
    assert (data.csat.responses, data.csat.promoter_share) == (5, 60.0)
    assert (data.ces.responses, data.ces.promoter_share) == (2, 50.0)
    back = queries.customer_voice(Filters(period(), voice["Back"].id))
    assert (back.nps.net, back.nps.responses) == (-33, 3)
    assert back.ces.responses == 0


def test_csat_and_ces_shares_are_exact(voice):
    data = queries.customer_voice(Filters(period()))
    # CSAT 5 5 4 3 1 2: 4-5 is satisfied (the band rule), 3 of 6.
    assert (data.csat.promoters, data.csat.responses, data.csat.promoter_share) == (3, 6, 50.0)
    assert (data.ces.promoters, data.ces.passives, data.ces.promoter_share) == (1, 1, 50.0)


def test_period_boundaries(voice):
    """Received on the first and the last day: in; the day before and the day after: out."""
    first_day = queries.customer_voice(Filters(period(START, START)))
    assert first_day.nps.responses == 1  # the 10 of Monday 2 March
    last_day = queries.customer_voice(Filters(period(END, END)))
    assert last_day.nps.responses == 1  # the 9 of Sunday 29 March
    wider = queries.customer_voice(Filters(period(START - timedelta(days=1), date(2026, 3, 30))))
    assert wider.nps.responses == 16
    assert (wider.nps.promoters, wider.nps.detractors) == (8, 5)


def test_by_team_and_touchpoint_are_sorted_with_unattributed_last(voice):
    data = queries.customer_voice(Filters(period()))
    assert groups(data.teams) == [
        ("Front", 10, 30, True),
        ("Back", 3, -33, True),  # 100 * (1 - 2) / 3 = -33.3
        (queries.NO_TEAM, 1, 100, True),
    ]
    assert groups(data.touchpoints) == [
        ("Store", 10, 30, True),
        ("Phone / contact centre", 3, -33, True),
        (queries.NO_TOUCHPOINT, 1, 100, True),
    ]


def test_reliable_samples_come_before_small_ones(add, make_team, db):
    big, small = make_team("Big"), make_team("Small")
    for i in range(queries.SMALL_SAMPLE):
        add(10 if i % 3 else 0, day(3), team=big)  # 20 promoters, 10 detractors: +33
    add(10, day(3), team=small)  # +100, but one response
    db.session.commit()
    data = queries.customer_voice(Filters(period()))
    assert groups(data.teams) == [("Big", 30, 33, False), ("Small", 1, 100, True)]
    assert not data.nps.small_sample


def test_weekly_trend_has_a_gap_for_a_week_without_responses(voice):
    data = queries.customer_voice(Filters(period()))
    trend = [
        (b.bucket.iso_label, b.counts.promoters, b.counts.passives, b.counts.detractors)
        for b in data.trend
    ]
    assert trend == [
        ("2026-W10", 2, 1, 1),
        ("2026-W11", 2, 1, 2),
        ("2026-W12", 0, 0, 0),
        ("2026-W13", 3, 1, 1),
    ]
    assert [b.counts.net for b in data.trend] == [25, 0, None, 40]


def test_a_long_period_trends_per_month(add, db):
    for received_on in (date(2026, 1, 1), date(2026, 1, 31), date(2026, 2, 1), date(2026, 12, 31)):
        add(10, received_on)
    add(0, date(2025, 12, 31))  # the day before
    db.session.commit()
    data = queries.customer_voice(Filters(period(date(2026, 1, 1), date(2026, 12, 31))))
    assert len(data.trend) == 12
    assert [(b.bucket.iso_label, b.counts.responses) for b in data.trend][:3] == [
        ("2026-01", 2),
        ("2026-02", 1),
        ("2026-03", 0),
    ]
    assert data.trend[-1].counts.responses == 1 and data.nps.net == 100


@pytest.mark.parametrize(
    ("counts", "net"),
    [
        ((5, 3, 2), 30),
        ((3, 3, 2), 13),  # 12.5: halves away from zero
        ((2, 3, 3), -13),
        ((0, 0, 1), -100),
        ((1, 0, 0), 100),
        ((1, 1, 1), 0),
        ((0, 0, 0), None),
    ],
)
def test_net_score_rounding(counts, net):
    assert BandCounts(*counts).net == net


# Recognition yield ------------------------------------------------------------------------------
def test_recognition_yield_counts_only_what_went_out(
    add, db, make_user, make_quote, make_story, make_edition
):
    author = make_user()
    sent_quote, draft_quote = make_quote(author), make_quote(author)
    sent_story = make_story(author)
    make_edition(status=EditionStatus.SENT, items=[sent_quote, sent_story])
    make_edition(status=EditionStatus.DRAFT, items=[draft_quote])
    used = VerbatimStatus.USED
    add(10, day(3), mentions=True, quote=sent_quote, status=used)  # reached
    add(9, day(4), mentions=True, story=sent_story, status=used)  # reached, as a story
    add(10, day(5), mentions=True, quote=draft_quote, status=used)  # only in a draft
    add(5, day(5), scale=Scale.CSAT, mentions=True)  # a CSAT promoter naming someone
    add(9, day(6))  # a promoter naming nobody
    add(9, day(6), status=F)  # a promoter without text: no comment to name anyone
    add(3, day(6), mentions=True)  # a detractor naming someone: not a promoter comment
    add(10, day(1), mentions=True, quote=sent_quote)  # before the period (1 March)
    db.session.commit()
    data = queries.customer_voice(Filters(period()))
    assert (data.promoter_comments, data.naming_colleague, data.reached_edition) == (5, 4, 2)
    assert (data.naming_share, data.reached_share) == (80.0, 50.0)


# The page and its exports -----------------------------------------------------------------------
def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


def voice_section(client, **query) -> str:
    """The customer-voice section of the page, for `query` (the test period by default)."""
    html = client.get("/insights/", query_string=query or PERIOD).get_data(as_text=True)
    return section_html(html, "voice")


def section_html(html: str, slug: str) -> str:
    start = html.index(f'id="{slug}"')
    return html[start : html.index("</section>", start)]


def test_page_shows_the_nps_and_then_the_relabelled_quote_figure(
    voice, editor_client, make_user, make_quote
):
    colleague = make_user(team=voice["Front"])
    make_quote(colleague, nps_score=10, status="submitted", submitted_at=at("2026-03-10 12:00"))
    _db.session.commit()
    query = dict(PERIOD, team=voice["Front"].id)
    html = editor_client.get("/insights/", query_string=query).get_data(as_text=True)
    voice_part = section_html(html, "voice")
    assert "+30" in voice_part and "from 10 responses" in voice_part
    assert "50% promoters, 30% passives, 20% detractors" in voice_part
    assert "small sample" in voice_part
    assert "3 of 5 responses scored 4–5 out of 5" in voice_part  # CSAT: 60 %
    # The quotes' scores come after the customer-voice NPS, named for what they are.
    assert html.index('id="voice"') < html.index('id="quotes"')
    quotes_part = section_html(html, "quotes")
    assert "Scores on curated quotes (not a Net Promoter Score)" in quotes_part
    assert "average of 1 scored quotes chosen by colleagues" in quotes_part
    assert "Net Promoter Score</span>" not in quotes_part


@pytest.mark.parametrize("slug", VOICE_FIGURES)
def test_csv_export_has_the_numbers_the_page_shows(voice, editor_client, slug):
    html = editor_client.get("/insights/", query_string=PERIOD).get_data(as_text=True)
    shown = page_tables(html)[slug]
    exported = read_csv(editor_client.get(f"/insights/export/{slug}.csv", query_string=PERIOD))
    assert exported == shown and len(exported) > 1


def test_exported_tables_and_key_figures(voice, editor_client):
    teams = read_csv(editor_client.get("/insights/export/voice-teams.csv", query_string=PERIOD))
    assert teams == [
        [
            "Team",
            "Responses",
            "Promoters (%)",
            "Passives (%)",
            "Detractors (%)",
            "NPS",
            "Small sample",
        ],
        ["Front", "10", "50.0", "30.0", "20.0", "30", "yes"],
        ["Back", "3", "33.3", "0.0", "66.7", "-33", "yes"],
        ["No team", "1", "100.0", "0.0", "0.0", "100", "yes"],
    ]
    trend = read_csv(editor_client.get("/insights/export/voice-trend.csv", query_string=PERIOD))
    assert trend[0] == ["Week", "Dates", "Responses", "Promoters", "Passives", "Detractors", "NPS"]
    assert trend[3] == ["2026-W12", "16 Mar 2026 – 22 Mar 2026", "0", "0", "0", "0", ""]
    summary = read_csv(editor_client.get("/insights/export/summary.csv", query_string=PERIOD))
    figures = {(r[0], r[1]): r[2:] for r in summary[1:]}
    value, unit, detail = figures["Customer voice", "Net Promoter Score"]
    assert (value, unit) == ("21", "")
    assert detail.startswith("from 14 responses · 50% promoters, 21.4% passives")
    assert figures["Customer voice", "Satisfied customers (CSAT)"][:2] == ["50.0", "%"]
    assert figures["Customer voice", "Easy to deal with (CES)"][:2] == ["50.0", "%"]
    assert figures["Curated quotes", report.CURATED_SCORES][0] == ""


def test_charts_draw_negative_scores_and_gaps(voice, editor_client):
    html = editor_client.get("/insights/", query_string=PERIOD).get_data(as_text=True)
    for chart_id in ("chart-voice-trend", "chart-voice-responses", "chart-voice-teams"):
        start = html.index(f'<svg class="chart" id="{chart_id}"')
        svg = ET.fromstring(html[start : html.index("</svg>", start) + 6])
        assert svg.get("role") == "img"
    teams = section_html(html, "voice")
    assert "<title>Back: -33</title>" in teams and "<title>Front: +30</title>" in teams
    # The line breaks at W12 (no responses): one line from W10 to W11, then W13 alone (a dot).
    trend = html[html.index('id="chart-voice-trend"') :]
    trend = trend[: trend.index("</svg>")]
    assert trend.count("chart-line ") == 1 and trend.count("<circle") == 3


def test_signed_bar_chart_and_broken_line_are_valid_svg():
    bars = charts.bar_chart(
        "b",
        ["<a>", "b", "c"],
        [-100, 0, None],
        title="t",
        description="d",
        signed=True,
        scale_max=100,
        tones=["nps-detractor", "nps-promoter", "nps-passive"],
    )
    root = ET.fromstring(str(bars))
    rects = root.findall("{http://www.w3.org/2000/svg}rect")
    assert len(rects) == 1 and float(rects[0].get("width")) > 0
    assert "<title>&lt;a&gt;: -100</title>" in str(bars)
    line = charts.line_chart(
        "l",
        ["1", "2", "3", "4"],
        [charts.Series("s", [None, 5, None, -20])],
        title="t",
        description="d",
        ticks=charts.signed_scale(-100, 100),
        last_partial=True,
    )
    root = ET.fromstring(str(line))
    assert not root.findall("{http://www.w3.org/2000/svg}polyline")  # no two points in a row
    assert len(root.findall("{http://www.w3.org/2000/svg}circle")) == 2


def test_empty_state_explains_how_to_bring_responses_in(editor_client, db):
    part = voice_section(editor_client)
    assert "No customer responses in this period" in part
    assert 'href="/review/voice/import/"' in part and "Import survey responses" in part


def test_csat_without_nps_shows_a_dash_not_a_score(add, db, editor_client):
    for score in (5, 4, 1):
        add(score, day(10), scale=Scale.CSAT)
    db.session.commit()
    part = voice_section(editor_client)
    assert "No customer responses in this period" not in part
    assert "no NPS responses in this period" in part
    assert "2 of 3 responses scored 4–5 out of 5" in part
    assert "Easy to deal with (CES)" not in part  # no CES responses: no tile


def test_a_team_without_responses_gets_the_empty_state(voice, editor_client, make_team):
    quiet = make_team("Quiet")
    _db.session.commit()
    part = voice_section(editor_client, **PERIOD, team=quiet.id)
    assert "No customer responses in this period" in part


def test_query_count_does_not_grow_with_responses(editor_client, add, db, make_team):
    team = make_team("Counted")

    def grow(n: int) -> None:
        for i in range(n):
            add(
                i % 11,
                START + timedelta(days=i % 28),
                team=team,
                tp=("store", "phone")[i % 2],
                mentions=i % 3 == 0,
            )
        db.session.commit()

    def count() -> int:
        db.session.expire_all()
        with count_queries() as log:
            assert editor_client.get("/insights/", query_string=PERIOD).status_code == 200
        return log.count

    grow(10)
    small = count()
    grow(190)
    assert count() == small
    html = editor_client.get("/insights/", query_string=PERIOD).get_data(as_text=True)
    assert "from 200 responses" in html


def test_the_indexes_serve_every_part(voice):
    """The section reads ix_verbatims_scores and, for the recognition yield, the partial index
    ix_verbatims_promoter_comments, and never the whole verbatims table. PostgreSQL would rather
    read a table this small: with sequential scans off, it shows which indexes it can match."""
    captured = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "verbatims" in statement:  # not the transaction's own statements
            captured.append((statement, parameters))

    engine = _db.engine
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        queries.customer_voice(Filters(period(), voice["Front"].id))
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    ((statement, parameters),) = captured
    connection = _db.session.connection()
    if engine.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        plan = [row[-1] for row in rows]
        assert not [step for step in plan if step.startswith("SCAN v") or "SCAN verbatims" in step]
    else:
        # On a table this small PostgreSQL may prefer the narrow ix_verbatims_received_on, or not,
        # by statistics that other tests' rows leave behind. With it out of the way (in a
        # savepoint, rolled back) and sequential scans off, the plan shows whether the covering
        # indexes can serve every part, whatever the statistics.
        savepoint = connection.begin_nested()
        try:
            connection.exec_driver_sql("DROP INDEX ix_verbatims_received_on")
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = [row[0] for row in
                    connection.exec_driver_sql("EXPLAIN " + statement, parameters)]
        finally:
            savepoint.rollback()
        assert not [step for step in plan if "Seq Scan on verbatims" in step]
    text = "\n".join(plan)
    assert "ix_verbatims_scores" in text and "ix_verbatims_promoter_comments" in text, text


def test_the_whole_section_is_one_statement(voice):
    with count_queries() as log:
        queries.customer_voice(Filters(period()))
    assert log.count == 1
