"""The readership trend in insights' newsletter health: opens and clicks per edition (the same
definitions as the edition's report), "not measured" as an empty cell, key figures, chart and
the CSV export matching the page."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

from app.engagement import queries as engagement
from app.extensions import db
from app.insights import queries
from app.insights import report
from app.insights.periods import resolve_period
from app.models import Edition
from tests.test_engagement_report import CLICKS_ONLY
from tests.test_engagement_report import UNTRACKED
from tests.test_engagement_report import events
from tests.test_engagement_report import sent
from tests.test_engagement_report import stories_of
from tests.test_insights_views import page_tables
from tests.test_insights_views import read_csv

PERIOD = {"period": "custom", "from": "2026-03-02", "to": "2026-03-29"}


def _editions():
    """Three editions in March 2026: measured, clicks only, before tracking."""
    first = sent(1, delivered=10, sent_at=datetime(2026, 3, 6, 9, tzinfo=UTC))
    events(first, "open", ["a", "b", "c", "d", "a"])
    events(first, "proxy_open", ["e"])
    events(first, "click", ["a", "b"], item=stories_of(first)[0])
    second = sent(2, delivered=20, html=CLICKS_ONLY, sent_at=datetime(2026, 3, 13, 9, tzinfo=UTC))
    events(second, "click", ["x"])
    sent(3, delivered=5, html=UNTRACKED, sent_at=datetime(2026, 3, 20, 9, tzinfo=UTC))
    sent(4, delivered=7, sent_at=datetime(2026, 4, 3, 9, tzinfo=UTC))  # after the period
    db.session.commit()


def test_newsletter_health_carries_the_edition_report_figures(app):
    _editions()
    period, _ = resolve_period(PERIOD, timezone="UTC")
    data = queries.newsletter_health(queries.Filters(period))
    assert [e.number for e in data.editions] == [1, 2, 3]
    rates = [(e.readership.open_rate, e.readership.click_rate) for e in data.editions]
    assert rates == [(40.0, 20.0), (None, 5.0), (None, None)]
    # Pooled over the editions where each was measured: 4 / 10 opens, 3 / 30 clicks.
    assert (data.opened, data.opens_measured_in, data.open_rate) == (4, 1, 40.0)
    assert (data.clicked, data.clicks_measured_in, data.click_rate) == (3, 2, 10.0)
    # The same figures as each edition's own report: one definition each.
    for health in data.editions:
        edition = db.session.get(Edition, health.edition_id)
        assert engagement.edition_readership(edition).current == health.readership
    assert (data.editions[0].reactions, data.editions[0].unsubscribed_since) == (0, 0)


def test_trend_table_chart_key_figures_and_csv(app, editor_client):
    _editions()
    html = editor_client.get("/insights/", query_string=PERIOD).get_data(as_text=True)
    table = page_tables(html)["newsletter-readership"]
    assert table[0] == ["Edition", "Sent on", "Delivered", "Opened", "Open rate (%)",
                        "Privacy-proxy opens", "Clicked", "Click rate (%)", "Click-to-open (%)"]
    assert table[1:] == [
        ["#1", "2026-03-06", "10", "4", "40.0", "1", "2", "20.0", "50.0"],
        ["#2", "2026-03-13", "20", "", "", "", "1", "5.0", ""],
        ["#3", "2026-03-20", "5", "", "", "", "", "", ""],
    ]
    assert 'id="chart-newsletter-readership"' in html
    assert "An empty cell means not measured" in html and "lower bound" in html
    exported = read_csv(editor_client.get("/insights/export/newsletter-readership.csv",
                                          query_string=PERIOD))
    assert exported == table
    summary = read_csv(editor_client.get("/insights/export/summary.csv", query_string=PERIOD))
    figures = {(r[0], r[1]): r[2:] for r in summary[1:]}
    assert figures["Newsletter health", "Opened"][:2] == ["40.0", "%"]
    assert "4 unique opens in 1 edition measured" in figures["Newsletter health", "Opened"][2]
    assert figures["Newsletter health", "Clicked"][0] == "10.0"


def test_no_chart_when_nothing_was_measured(app, editor_client):
    sent(1, html=UNTRACKED, sent_at=datetime(2026, 3, 6, 9, tzinfo=UTC))
    db.session.commit()
    html = editor_client.get("/insights/", query_string=PERIOD).get_data(as_text=True)
    assert page_tables(html)["newsletter-readership"][1] == [
        "#1", "2026-03-06", "10", "", "", "", "", "", ""]
    assert 'id="chart-newsletter-readership"' not in html


def test_the_section_is_empty_without_editions(app):
    period, _ = resolve_period(PERIOD, timezone="UTC")
    section = report.build_section("newsletter", queries.Filters(period))
    assert section.empty is not None
    data = queries.newsletter_health(queries.Filters(period))
    assert (data.open_rate, data.click_rate, data.opens_measured_in) == (None, None, 0)
