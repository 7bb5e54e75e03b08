"""The insights page and its CSV exports: access, rendering, empty states, and page == CSV."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from app.insights import charts
from app.insights import report
from app.insights.charts import Series
from app.models import Role
from app.web.downloads import spreadsheet_cell as safe_cell
from tests.querycount import count_queries
from tests.test_insights_queries import world  # noqa: F401  (fixture)

PERIOD = {"period": "custom", "from": "2026-03-16", "to": "2026-04-05"}
# The customer-voice figures (verbatims) are checked against their own data in
# tests/test_insights_voice.py.
CHARTS = [slug for slug, section in report.FIGURE_SECTIONS.items() if section != "voice"]


class TableParser(HTMLParser):
    """Collects every <table data-table="..."> as a list of rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "data-table" in attrs:
            self._table = attrs["data-table"]
            self.tables[self._table] = []
        elif self._table and tag == "tr":
            self._row = []
        elif self._row is not None and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def page_tables(html: str) -> dict[str, list[list[str]]]:
    parser = TableParser()
    parser.feed(html)
    return parser.tables


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


@pytest.mark.parametrize("role", [Role.EDITOR, Role.ADMIN])
def test_curators_see_the_page(login_as, make_user, db, role):
    client = login_as(make_user(role))
    response = client.get("/insights/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for title in (
        "Participation",
        "Recognition coverage",
        "Touchpoints",
        "Customer voice",
        "Curated quotes",
        "Editorial flow",
        "Newsletter health",
    ):
        assert title in html
    assert 'href="/insights/"' in html  # the nav entry


def test_employees_and_visitors_are_kept_out(employee_client, client):
    assert employee_client.get("/insights/").status_code == 403
    assert employee_client.get("/insights/export/participation.csv").status_code == 403
    assert "/login" in client.get("/insights/").headers["Location"]


def test_page_shows_known_figures(world, editor_client):  # noqa: F811
    html = editor_client.get("/insights/", query_string=PERIOD).get_data(as_text=True)
    assert "16 Mar 2026 – 5 Apr 2026" in html and "Europe/Paris" in html
    tables = page_tables(html)
    assert tables["participation"][1:] == [
        ["2026-W12", "16 Mar 2026 – 22 Mar 2026", "2", "2", "2", "2"],
        ["2026-W13", "23 Mar 2026 – 29 Mar 2026", "1", "2", "1", "1"],
        ["2026-W14", "30 Mar 2026 – 5 Apr 2026", "2", "1", "1", "1"],
    ]
    assert tables["recognition-teams"][1] == ["Back", "2", "2", "100.0", "3"]
    assert tables["newsletter-editions"][1] == ["#1", "2026-03-20", "4", "3", "1", "2", "12", "3"]
    assert "62.5" in html  # 5 of 8 active colleagues contributed (the editor too)
    assert "Silent" in html  # the team nobody recognized is called out
    # Each chart is an accessible image.
    assert html.count('role="img"') >= 9


@pytest.mark.parametrize("slug", CHARTS)
def test_csv_export_has_the_numbers_the_page_shows(world, editor_client, slug):  # noqa: F811
    query = dict(PERIOD, team=world.teams["Front"].id) if slug.startswith("quotes") else PERIOD
    html = editor_client.get("/insights/", query_string=query).get_data(as_text=True)
    shown = page_tables(html)[slug]
    exported = read_csv(editor_client.get(f"/insights/export/{slug}.csv", query_string=query))
    assert exported == shown
    assert len(exported) > 1


def test_summary_csv_lists_every_key_figure(world, editor_client):  # noqa: F811
    response = editor_client.get("/insights/export/summary.csv", query_string=PERIOD)
    rows = read_csv(response)
    assert rows[0] == ["Section", "Figure", "Value", "Unit", "Detail"]
    figures = {(r[0], r[1]): r[2] for r in rows[1:]}
    assert figures["Participation", "Colleagues who contributed"] == "62.5"
    assert figures["Editorial flow", "Median time to decision"] == "24.0"
    # Scores 10, 9, 6 and 3 of hand-picked quotes: an average, labelled as not being an NPS.
    assert figures["Curated quotes", report.CURATED_SCORES] == "7.0"
    assert report.CURATED_SCORES == "Scores on curated quotes (not a Net Promoter Score)"
    # The only Net Promoter Score is the customer-voice one (none here: no responses).
    nps = [(section, figure) for section, figure in figures if figure.startswith("Net Promoter")]
    assert nps == [("Customer voice", "Net Promoter Score")]
    assert figures["Customer voice", "Net Promoter Score"] == ""
    disposition = response.headers["Content-Disposition"]
    assert 'filename="insights-summary-2026-03-16_2026-04-05.csv"' in disposition


def test_unknown_export_is_not_found(editor_client):
    assert editor_client.get("/insights/export/nope.csv").status_code == 404


def test_bad_filters_fall_back_with_a_message(editor_client):
    response = editor_client.get(
        "/insights/",
        query_string={"period": "custom", "from": "2026-05-01", "to": "2026-04-01", "team": 424242},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The end date is before the start date." in html
    assert "Unknown team; showing all teams." in html


def test_empty_period_shows_empty_states(editor_client):
    html = editor_client.get("/insights/", query_string=PERIOD).get_data(as_text=True)
    for title in (
        "Nothing submitted in this period",
        "No one recognized in this period",
        "No published stories in this period",
        "No customer quotes in this period",
        "No editorial activity in this period",
        "No edition sent in this period",
    ):
        assert title in html


def test_page_has_no_inline_style_or_script(world, editor_client):  # noqa: F811
    html = editor_client.get("/insights/", query_string=PERIOD).get_data(as_text=True)
    assert " style=" not in html and "<style" not in html
    assert "<script>" not in html and "onclick" not in html.lower()


def test_query_count_does_not_grow_with_data(world, editor_client, db, make_story):  # noqa: F811
    def count() -> int:
        db.session.expire_all()  # the signed-in user is reloaded in both runs alike
        with count_queries() as queries:
            assert editor_client.get("/insights/", query_string=PERIOD).status_code == 200
        return queries.count

    before = count()
    for user in world.users.values():
        make_story(user, status="submitted")
    db.session.commit()
    assert count() == before
    assert before <= 29, before  # a fixed set: about 23 for the figures, the rest the layout


def test_charts_are_valid_accessible_svg():
    hostile = '<script>alert("x")</script> & Co'
    svgs = [
        charts.column_chart(
            "c1",
            ["a", hostile],
            [Series("S", [1, 2]), Series("T", [0, 3])],
            title=hostile,
            description="d",
            stacked=True,
        ),
        charts.bar_chart(
            "c2", [hostile, "b"], [0, 5], title="t", description=hostile, flag_zero=True
        ),
        charts.line_chart(
            "c3",
            ["w1", "w2", "w3"],
            [Series(hostile, [1, 4, 2])],
            title="t",
            description="d",
            area=True,
        ),
        charts.heatmap(
            "c4", ["r1", hostile], ["c1", "c2"], [[0, 1], [2, 10]], title="t", description="d"
        ),
        charts.line_chart("c5", [], [Series("empty", [])], title="t", description="d"),
    ]
    for svg in svgs:
        root = ET.fromstring(str(svg))  # well-formed, labels escaped
        assert root.get("role") == "img"
        assert root.find("{http://www.w3.org/2000/svg}title") is not None
        assert "<script>" not in str(svg)
    assert 'class="chart-label chart-label--gap"' in str(svgs[1])
    partial = charts.line_chart(
        "c6", ["w1", "w2"], [Series("s", [3, 1])], title="t", description="d", last_partial=True
    )
    assert "chart-line--partial" in str(partial)


def test_nice_scale_and_heat_levels():
    assert charts.nice_scale(0) == [0, 1]
    assert charts.nice_scale(3) == [0, 1, 2, 3]
    assert charts.nice_scale(7) == [0, 2, 4, 6, 8]
    assert charts.nice_scale(100) == [0, 50, 100]
    assert [charts.heat_level(v, 10) for v in (0, 1, 2, 5, 10)] == [0, 1, 1, 3, 5]


def test_csv_cells_cannot_become_formulas():
    assert safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert safe_cell("@team") == "'@team"
    assert safe_cell("-12") == "-12" and safe_cell("3.5") == "3.5" and safe_cell("Back") == "Back"


def test_coverage_is_a_share_and_spares_an_empty_team(world, editor_client, make_team):  # noqa: F811
    make_team("Created today")  # no colleague yet: nothing to cover, nothing to flag
    html = editor_client.get("/insights/", query_string=PERIOD).get_data(as_text=True)
    chart = html[html.index('id="chart-recognition-teams"') :]
    chart = chart[: chart.index("</svg>")]
    # Back: 2 of 2 active colleagues recognized; Silent: 0 of its colleagues.
    assert "<title>Back: 100%</title>" in chart
    assert 'class="chart-label chart-label--gap"' in chart  # Silent is flagged...
    flagged = [line for line in chart.split("<text") if "chart-label--gap" in line.split(">")[0]]
    assert [f for f in flagged if "Silent" in f] and not [f for f in flagged if "Created" in f]
    callout = html[html.index("with no recognized colleague") - 200 :][:800]
    assert "Silent" in callout and "Created today" not in callout
    assert "teams with active colleagues" in html
