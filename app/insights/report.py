"""The insights page as data: sections, key figures, charts and the tables behind them.

Each figure's `Table` is built once, here, from the query results, and serves both the page (the
accessible table next to the chart) and the CSV export. That single path is what guarantees a
spreadsheet shows exactly the numbers the page shows. Cells are plain strings without thousands
separators or units (units live in the headers), so spreadsheets read them as numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from zoneinfo import ZoneInfo

from markupsafe import Markup

from app.insights import charts
from app.insights import queries
from app.insights.charts import Series
from app.insights.periods import MAX_TREND_WEEKS
from app.insights.periods import Period
from app.insights.periods import Week
from app.insights.queries import Filters
from app.insights.queries import share
from app.models import Band
from app.models import Scale
from app.models import utcnow
from app.voice.scores import THRESHOLDS
from app.voice.scores import band


@dataclass(frozen=True)
class Table:
    slug: str
    caption: str
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]


@dataclass(frozen=True)
class LegendEntry:
    label: str
    tone: str  # CSS class, e.g. "tone-0"


@dataclass(frozen=True)
class Figure:
    """A chart (or two) with its table. Short tables sit beside the chart on wide screens; long
    ones go below it, and the chart is drawn wider to match."""

    slug: str
    title: str
    note: str
    charts: list[Markup]
    table: Table
    legend: list[LegendEntry] = field(default_factory=list)
    side_by_side: bool = False


# The curated quotes' score figure: named for what it is, so nobody takes hand-picked quotes
# for the company's Net Promoter Score (which the customer-voice section computes).
CURATED_SCORES = "Scores on curated quotes (not a Net Promoter Score)"

# Chart widths (SVG user units ~ CSS pixels): full width, or beside a table.
WIDE = 960
BESIDE = 560


@dataclass(frozen=True)
class KeyFigure:
    """A headline number. `value` stays raw for the CSV; `display` is what the tile shows."""

    label: str
    value: int | float | str | None
    unit: str = ""
    detail: str = ""
    signed: bool = False

    @property
    def display(self) -> str:
        if self.value is None:
            return "–"
        if isinstance(self.value, int):
            return f"{self.value:+,d}" if self.signed and self.value else f"{self.value:,}"
        if isinstance(self.value, float):
            return f"{self.value:,.1f}".removesuffix(".0")
        return self.value


@dataclass(frozen=True)
class Callout:
    """A short highlighted list under a section, e.g. teams nobody recognized."""

    title: str
    items: list[str]
    tone: str = "warning"


@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    intro: str
    key_figures: list[KeyFigure]
    figures: list[Figure]
    callouts: list[Callout] = field(default_factory=list)
    empty: tuple[str, str] | None = None  # (title, text) shown instead of the figures
    empty_link: tuple[str, str] | None = None  # (endpoint, label): what to do about it


def cell(value: int | float | str | None) -> str:
    """One table cell: integers as is, decimals with one digit, missing as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.1f}"
    return value


def _table(
    slug: str,
    caption: str,
    headers: list[str],
    rows: list[list],
    text_columns: int = 1,
    numeric: list[bool] | None = None,
) -> Table:
    """A table whose first `text_columns` columns are labels and the rest numbers (or say which
    columns are numeric with `numeric`, for right alignment)."""
    return Table(
        slug=slug,
        caption=caption,
        headers=headers,
        rows=[[cell(v) for v in row] for row in rows],
        numeric=numeric or [i >= text_columns for i in range(len(headers))],
    )


def _count(value: int) -> str:
    return f"{value:,}"


def _stories(n: int) -> str:
    return f"{n:,} {'story' if n == 1 else 'stories'}"


def _week_labels(weeks: Sequence[Week]) -> list[str]:
    return [w.short_label for w in weeks]


def _legend(series: Sequence[Series]) -> list[LegendEntry]:
    return [LegendEntry(s.name, f"tone-{s.tone}") for s in series]


def _in_progress(period: Period) -> bool:
    """The period runs until today: its last week is still under way, so a dip at the end of a
    line is not a drop in activity (the chart dashes that segment)."""
    return period.end_utc > utcnow()


def _partial_note(period: Period) -> str:
    return " The dashed end is the current week, still under way." if _in_progress(period) else ""


def _describe(period: Period, what: str) -> str:
    return (
        f"{what} for {period.dates_label} ({period.timezone} time). "
        "The table next to the chart lists every value."
    )


# Participation ------------------------------------------------------------------------------------
def participation_section(data: queries.Participation, period: Period) -> Section:
    series = [
        Series("Stories submitted", [w.stories_submitted for w in data.weeks], tone=0),
        Series("Quotes submitted", [w.quotes_submitted for w in data.weeks], tone=1),
        Series("Approved", [w.approved for w in data.weeks], tone=2),
        Series("Published", [w.published for w in data.weeks], tone=3),
    ]
    table = _table(
        "participation",
        "Stories and quotes per week",
        ["Week", "Dates", "Stories submitted", "Quotes submitted", "Approved", "Published"],
        [
            [
                w.week.iso_label,
                w.week.dates_label,
                w.stories_submitted,
                w.quotes_submitted,
                w.approved,
                w.published,
            ]
            for w in data.weeks
        ],
        text_columns=2,
    )
    figure = Figure(
        slug="participation",
        title="Submissions, approvals and publications per week",
        note="Approved and published count stories and quotes together. Weeks start on Monday."
        + _partial_note(period),
        charts=[
            charts.line_chart(
                "chart-participation",
                _week_labels(period.weeks),
                series,
                width=WIDE,
                title="Stories and quotes per week",
                last_partial=_in_progress(period),
                height=280,
                description=_describe(
                    period, "Weekly stories submitted, quotes submitted, approvals and publications"
                ),
            )
        ],
        table=table,
        legend=_legend(series),
    )
    key_figures = [
        KeyFigure("Stories submitted", data.stories_submitted),
        KeyFigure("Quotes submitted", data.quotes_submitted),
        KeyFigure(
            "Colleagues who contributed",
            data.contributor_share,
            "%",
            f"{_count(data.contributors)} of {_count(data.active_employees)} active colleagues",
        ),
        KeyFigure(
            "Colleagues recognized",
            data.recognized_share,
            "%",
            f"{_count(data.recognized)} named in a published story",
        ),
        KeyFigure("New contributors", data.new_contributors, "", "first submission ever"),
    ]
    return Section(
        slug="participation",
        title="Participation",
        intro=(
            "Is sharing becoming a habit? Submissions show the effort colleagues put in; the "
            "shares show how widely it is spread across the company, and new contributors "
            "show whether it is still growing."
        ),
        key_figures=key_figures,
        figures=[figure],
        empty=None
        if not data.is_empty
        else (
            "Nothing submitted in this period",
            "No story or quote was submitted, approved or published. Try a longer period.",
        ),
    )


# Recognition coverage -----------------------------------------------------------------------------
def recognition_section(data: queries.RecognitionCoverage, period: Period) -> Section:
    teams = data.teams
    teams_table = _table(
        "recognition-teams",
        "Recognized colleagues per team",
        ["Team", "Active colleagues", "Recognized colleagues", "Coverage (%)", "Recognitions"],
        [[t.name, t.headcount, t.recognized, t.share, t.recognitions] for t in teams],
    )
    people_table = _table(
        "recognition-people",
        "Most recognized colleagues",
        ["Colleague", "Team", "Stories"],
        [[p.name, p.team or queries.NO_TEAM, p.stories] for p in data.people],
        text_columns=2,
    )
    figures = [
        Figure(
            slug="recognition-teams",
            title="Recognition coverage per team",
            note=(
                "Share of each team's active colleagues named in a published story in this "
                "period. Teams in red had none; a team without active colleagues shows a dash."
            ),
            charts=[
                charts.bar_chart(
                    "chart-recognition-teams",
                    [t.name for t in teams],
                    [t.share for t in teams],
                    width=WIDE,
                    title="Recognition coverage per team",
                    description=_describe(
                        period, "Share of active colleagues recognized (%), per team"
                    ),
                    tone=0,
                    value_suffix="%",
                    scale_max=100,
                    flag_zero=True,
                )
            ],
            table=teams_table,
        ),
        Figure(
            slug="recognition-people",
            side_by_side=True,
            title="Most recognized colleagues",
            note="Number of published stories naming each colleague.",
            charts=[
                charts.bar_chart(
                    "chart-recognition-people",
                    [p.name for p in data.people],
                    [p.stories for p in data.people],
                    width=BESIDE,
                    title="Most recognized colleagues",
                    description=_describe(period, "Published stories naming each colleague"),
                    tone=2,
                )
            ]
            if data.people
            else [],
            table=people_table,
        ),
    ]
    silent = data.teams_without_recognition
    callouts = []
    if silent and data.recognized:
        callouts.append(
            Callout(
                f"{len(silent)} team{'s' if len(silent) != 1 else ''} with no recognized colleague",
                [t.name for t in silent],
            )
        )
    key_figures = [
        KeyFigure("Colleagues recognized", data.recognized),
        KeyFigure(
            "Teams with a recognized colleague",
            sum(1 for t in data.staffed_teams if t.recognized),
            "",
            f"of {len(data.staffed_teams)} teams with active colleagues",
        ),
    ]
    if data.unnamed_recognitions is not None:
        key_figures.append(
            KeyFigure(
                "Recognitions without an account",
                data.unnamed_recognitions,
                "",
                "people named by free text",
            )
        )
    empty = None
    if not data.recognized and not data.unnamed_recognitions:
        empty = (
            "No one recognized in this period",
            "No published story named a colleague. Recognition appears once stories that name "
            "colleagues go out in an edition.",
        )
    return Section(
        slug="recognition",
        title="Recognition coverage",
        intro=(
            "A customer-focused culture is not only the front line: back-office teams make "
            "customers' days too. Coverage is the share of a team's active colleagues named in at "
            "least one published story; the teams that never appear are the point of this view."
        ),
        key_figures=key_figures,
        figures=figures,
        callouts=callouts,
        empty=empty,
    )


# Touchpoints --------------------------------------------------------------------------------------
def touchpoints_section(data: queries.Touchpoints, period: Period) -> Section:
    labels = [s.label for s in data.series]
    weekly_table = _table(
        "touchpoints-weekly",
        "Published stories per touchpoint and week",
        ["Week", "Dates", *labels, "Total"],
        [
            [
                w.iso_label,
                w.dates_label,
                *(s.weekly[i] for s in data.series),
                sum(s.weekly[i] for s in data.series),
            ]
            for i, w in enumerate(data.weeks)
        ],
        text_columns=2,
    )
    teams_table = _table(
        "touchpoints-teams",
        "Published stories per team and touchpoint",
        ["Team", *labels, "Total"],
        [[t.name, *t.counts, t.total] for t in data.teams],
    )
    figures = [
        Figure(
            slug="touchpoints-weekly",
            title="Published stories per touchpoint over time",
            note="Each cell is a week; pale cells are weeks without a story from that touchpoint.",
            charts=[
                charts.bar_chart(
                    "chart-touchpoints-total",
                    labels,
                    [s.total for s in data.series],
                    width=WIDE,
                    title="Published stories per touchpoint",
                    description=_describe(period, "Published stories per touchpoint"),
                    tone=1,
                    flag_zero=True,
                ),
                charts.heatmap(
                    "chart-touchpoints-weekly",
                    labels,
                    _week_labels(data.weeks),
                    [s.weekly for s in data.series],
                    width=WIDE,
                    title="Published stories per touchpoint and week",
                    description=_describe(
                        period, "Heatmap of published stories, touchpoints by week"
                    ),
                ),
            ],
            table=weekly_table,
        ),
        Figure(
            slug="touchpoints-teams",
            title="Teams × touchpoints",
            note="Stories are counted for the submitter's team.",
            charts=[
                charts.heatmap(
                    "chart-touchpoints-teams",
                    [t.name for t in data.teams],
                    labels,
                    [t.counts for t in data.teams],
                    width=WIDE,
                    title="Published stories per team and touchpoint",
                    description=_describe(
                        period, "Heatmap of published stories, teams by touchpoint"
                    ),
                )
            ],
            table=teams_table,
        ),
    ]
    callouts = []
    if data.gaps and data.total:
        callouts.append(Callout("No published story from", [s.label for s in data.gaps]))
    busiest = max(data.series, key=lambda s: s.total, default=None)
    key_figures = [
        KeyFigure("Published stories", data.total),
        KeyFigure(
            "Touchpoints covered",
            sum(1 for s in data.series if s.touchpoint_id is not None and s.total),
            "",
            f"of {sum(1 for s in data.series if s.touchpoint_id is not None)}",
        ),
    ]
    if busiest and busiest.total:
        key_figures.append(
            KeyFigure("Most stories from", busiest.label, "", _stories(busiest.total))
        )
    return Section(
        slug="touchpoints",
        title="Touchpoints",
        intro=(
            "Where in the customer journey do great moments happen? Published stories per "
            "touchpoint reveal the gaps: a channel that never produces a story deserves a look."
        ),
        key_figures=key_figures,
        figures=figures,
        callouts=callouts,
        empty=None
        if not data.is_empty
        else ("No published stories in this period", "Touchpoints fill in as editions go out."),
    )


# Customer voice -----------------------------------------------------------------------------------
IMPORT_ENDPOINT = "voice.import_upload"


def _score_range(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}–{high}"


def band_ranges(scale: Scale) -> dict[Band, str]:
    """Each band's scores on `scale` as text ("9–10"), from the one band rule."""
    top, bottom = THRESHOLDS[scale]
    low, high = scale.bounds
    return {
        Band.PROMOTER: _score_range(top, high),
        Band.PASSIVE: _score_range(bottom + 1, top - 1),
        Band.DETRACTOR: _score_range(low, bottom),
    }


NPS_RANGES = band_ranges(Scale.NPS)
NPS_LEGEND = [
    LegendEntry(f"Detractors ({NPS_RANGES[Band.DETRACTOR]})", "nps-detractor"),
    LegendEntry(f"Passives ({NPS_RANGES[Band.PASSIVE]})", "nps-passive"),
    LegendEntry(f"Promoters ({NPS_RANGES[Band.PROMOTER]})", "nps-promoter"),
]


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}".removesuffix(".0") + "%"


def _responses(n: int) -> str:
    return f"{n:,} {'response' if n == 1 else 'responses'}"


def _small_sample(counts: queries.BandCounts) -> str:
    if not counts.small_sample:
        return ""
    return f" · small sample: under {queries.SMALL_SAMPLE} responses"


def _nps_detail(counts: queries.BandCounts) -> str:
    if not counts.responses:
        return "no NPS responses in this period"
    return (
        f"from {_responses(counts.responses)} · {_percent(counts.promoter_share)} promoters, "
        f"{_percent(counts.passive_share)} passives, {_percent(counts.detractor_share)} detractors"
        + _small_sample(counts)
    )


def _top_band(scale: Scale, label: str, counts: queries.BandCounts) -> KeyFigure:
    """A satisfaction-style figure: the share of responses in the top band of `scale`."""
    high = scale.bounds[1]
    return KeyFigure(
        label,
        counts.promoter_share,
        "%",
        f"{counts.promoters:,} of {_responses(counts.responses)} scored "
        f"{band_ranges(scale)[Band.PROMOTER]} out of {high}" + _small_sample(counts),
    )


def _group_table(slug: str, caption: str, what: str, groups: list[queries.VoiceGroup]) -> Table:
    return _table(
        slug,
        caption,
        [
            what,
            "Responses",
            "Promoters (%)",
            "Passives (%)",
            "Detractors (%)",
            "NPS",
            "Small sample",
        ],
        [
            [
                g.name,
                g.counts.responses,
                g.counts.promoter_share,
                g.counts.passive_share,
                g.counts.detractor_share,
                g.counts.net,
                g.counts.small_sample,
            ]
            for g in groups
        ],
        numeric=[False, True, True, True, True, True, False],
    )


def _group_tone(counts: queries.BandCounts) -> str:
    if counts.small_sample:
        return "nps-passive"
    return "nps-promoter" if (counts.net or 0) >= 0 else "nps-detractor"


def _group_figure(
    slug: str, what: str, plural: str, groups: list[queries.VoiceGroup], period: Period
) -> Figure:
    """NPS per team or touchpoint: bars left (negative) or right of zero; grey bars are samples
    too small to compare."""
    tones = [_group_tone(g.counts) for g in groups]
    return Figure(
        slug=slug,
        title=f"Net Promoter Score by {what}",
        note=(
            f"NPS responses per {what} in this period, best score first. Grey bars, listed last, "
            f"have fewer than {queries.SMALL_SAMPLE} responses: too few to compare {plural}."
        ),
        charts=[
            charts.bar_chart(
                f"chart-{slug}",
                [g.name for g in groups],
                [g.counts.net for g in groups],
                width=WIDE,
                title=f"Net Promoter Score by {what}",
                description=_describe(period, f"Net Promoter Score (-100 to 100) per {what}"),
                scale_max=100,
                signed=True,
                tones=tones,
            )
        ]
        if groups
        else [],
        table=_group_table(slug, f"Net Promoter Score by {what}", what.capitalize(), groups),
    )


def voice_section(data: queries.CustomerVoice, period: Period) -> Section:
    trend = data.trend
    weekly = bool(trend) and isinstance(trend[0].bucket, Week)
    unit = "week" if weekly else "month"
    labels = [b.bucket.short_label for b in trend]
    bands = [
        Series(
            name, [getattr(b.counts, name.lower()) for b in trend], point_tones=[tone] * len(trend)
        )
        for name, tone in (
            ("Detractors", "nps-detractor"),
            ("Passives", "nps-passive"),
            ("Promoters", "nps-promoter"),
        )
    ]
    score = [Series("Net Promoter Score", [b.counts.net for b in trend], tone=3)]
    trend_table = _table(
        "voice-trend",
        f"Net Promoter Score per {unit}",
        [unit.capitalize(), "Dates", "Responses", "Promoters", "Passives", "Detractors", "NPS"],
        [
            [
                b.bucket.iso_label,
                b.bucket.dates_label,
                b.counts.responses,
                b.counts.promoters,
                b.counts.passives,
                b.counts.detractors,
                b.counts.net,
            ]
            for b in trend
        ],
        text_columns=2,
    )
    last_partial = weekly and _in_progress(period)
    figures = [
        Figure(
            slug="voice-trend",
            title=f"Net Promoter Score per {unit}",
            note=(
                f"Weeks start on Monday; a period longer than {MAX_TREND_WEEKS} weeks is shown "
                f"per month. A {unit} without responses has no score (a gap in the line)."
                + (_partial_note(period) if last_partial else "")
            ),
            charts=[
                charts.line_chart(
                    "chart-voice-trend",
                    labels,
                    score,
                    width=WIDE,
                    title=f"Net Promoter Score per {unit}",
                    description=_describe(period, f"Net Promoter Score (-100 to 100) per {unit}"),
                    last_partial=last_partial,
                    ticks=charts.signed_scale(-100, 100),
                ),
                charts.column_chart(
                    "chart-voice-responses",
                    labels,
                    bands,
                    width=WIDE,
                    title=f"NPS responses per {unit}",
                    description=_describe(period, f"Promoters, passives and detractors per {unit}"),
                    stacked=True,
                    height=200,
                ),
            ],
            table=trend_table,
            legend=_legend(score) + NPS_LEGEND,
        ),
        _group_figure("voice-teams", "team", "teams", data.teams, period),
        _group_figure("voice-touchpoints", "touchpoint", "touchpoints", data.touchpoints, period),
    ]
    key_figures = [
        KeyFigure("Net Promoter Score", data.nps.net, "", _nps_detail(data.nps), signed=True),
    ]
    if data.csat.responses:
        key_figures.append(_top_band(Scale.CSAT, "Satisfied customers (CSAT)", data.csat))
    if data.ces.responses:
        key_figures.append(_top_band(Scale.CES, "Easy to deal with (CES)", data.ces))
    key_figures += [
        KeyFigure(
            "Promoter comments naming a colleague",
            data.naming_colleague,
            "",
            f"{_percent(data.naming_share)} of {data.promoter_comments:,} promoter comments; "
            f"{data.reached_edition:,} of them reached an edition",
        ),
        KeyFigure(
            "Recognition yield",
            data.reached_share,
            "%",
            f"{data.reached_edition:,} of {data.naming_colleague:,} comments naming a colleague "
            "went out in a sent edition, as a quote or a story",
        ),
    ]
    empty_link = (IMPORT_ENDPOINT, "Import survey responses")
    return Section(
        slug="voice",
        title="Customer voice",
        intro=(
            "What customers at large say: every scored response received in this period (survey "
            "imports, webhooks, forwarded emails), including those kept only for their score and "
            "those an editor dismissed. The Net Promoter Score is the share of promoters "
            f"({NPS_RANGES[Band.PROMOTER]}) minus the share of detractors "
            f"({NPS_RANGES[Band.DETRACTOR]}), from -100 to +100. Recognition yield follows the "
            "promoters who named a colleague: did their words reach everyone in an edition?"
        ),
        key_figures=key_figures,
        figures=figures,
        empty=None
        if not data.is_empty
        else (
            "No customer responses in this period",
            "The Net Promoter Score here is computed from every scored response, not from quotes "
            "colleagues pick. Responses come in from survey exports (CSV or Excel), a survey "
            "tool's webhook, and customer emails forwarded by colleagues.",
        ),
        empty_link=empty_link,
    )


# Curated quotes -----------------------------------------------------------------------------------
def _nps_group(score: int) -> str:
    return band(Scale.NPS, score).label  # type: ignore[union-attr]


def quotes_section(data: queries.CuratedQuotes, period: Period) -> Section:
    source_labels = [source.label for source, _ in data.by_source]
    sources_table = _table(
        "quotes-sources",
        "Quotes by source",
        ["Source", "Quotes"],
        [[source.label, n] for source, n in data.by_source],
    )
    scores_table = _table(
        "quotes-scores",
        "Curated quotes by score",
        ["Score", "Quotes", "Group"],
        [[score, n, _nps_group(score)] for score, n in enumerate(data.nps_counts)],
        numeric=[True, True, False],
    )
    tones = [f"nps-{_nps_group(score).lower()}" for score in range(11)]
    top = NPS_RANGES[Band.PROMOTER]
    figures = [
        Figure(
            slug="quotes-sources",
            side_by_side=True,
            title="Quotes by source",
            note="Where customers' words come from.",
            charts=[
                charts.bar_chart(
                    "chart-quotes-sources",
                    source_labels,
                    [n for _, n in data.by_source],
                    width=BESIDE,
                    title="Quotes by source",
                    description=_describe(period, "Quotes submitted per source"),
                    tone=3,
                )
            ],
            table=sources_table,
        ),
        Figure(
            slug="quotes-scores",
            side_by_side=True,
            title=CURATED_SCORES,
            note=(
                "Quotes that carry a 0–10 score, grouped as in NPS surveys (detractors "
                f"{NPS_RANGES[Band.DETRACTOR]}, passives {NPS_RANGES[Band.PASSIVE]}, promoters "
                f"{top}). Colleagues pick which quotes to share, so this shows the tone of what "
                "they collect; the Net Promoter Score is in the customer-voice section above."
            ),
            charts=[
                charts.column_chart(
                    "chart-quotes-scores",
                    [str(score) for score in range(11)],
                    [Series("Quotes", data.nps_counts, point_tones=tones)],
                    width=BESIDE,
                    title="Curated quotes by score",
                    description=_describe(
                        period, "Number of curated quotes for each score from 0 to 10"
                    ),
                    height=220,
                )
            ]
            if data.scored
            else [],
            table=scores_table,
            legend=NPS_LEGEND,
        ),
    ]
    key_figures = [
        KeyFigure("Customer quotes", data.quotes),
        # Not an NPS: these are quotes colleagues chose to share, not every surveyed customer.
        KeyFigure(
            CURATED_SCORES,
            data.average_score,
            "/10",
            f"average of {_count(data.scored)} scored quotes chosen by colleagues",
        ),
        KeyFigure(
            f"Curated quotes scoring {top}",
            share(data.promoters, data.scored),
            "%",
            f"{_count(data.promoters)} scoring {top} · {_count(data.passives)} scoring "
            f"{NPS_RANGES[Band.PASSIVE]} · {_count(data.detractors)} scoring "
            f"{NPS_RANGES[Band.DETRACTOR]}",
        ),
        KeyFigure(
            f"Quotes scoring {top} in an edition",
            data.promoters_in_edition_share,
            "%",
            f"{_count(data.promoters_in_edition)} of {_count(data.promoters)} such quotes",
        ),
    ]
    return Section(
        slug="quotes",
        title="Curated quotes",
        intro=(
            "The quotes colleagues chose to share, and the scores some of them carry. Hand-picked "
            "quotes are the best of what colleagues hear, so their scores are not a Net Promoter "
            "Score; the last figure shows how many enthusiastic quotes reached every colleague "
            "through a sent edition."
        ),
        key_figures=key_figures,
        figures=figures,
        empty=None
        if not data.is_empty
        else (
            "No customer quotes in this period",
            "Quotes appear here once colleagues submit them.",
        ),
    )


# Editorial flow -----------------------------------------------------------------------------------
def _days(hours: float | None) -> str:
    if hours is None:
        return ""
    return f"about {hours / 24:.1f} days" if hours >= 48 else ""


def flow_section(data: queries.EditorialFlow, period: Period) -> Section:
    queue_table = _table(
        "flow-queue",
        "Review queue per week",
        ["Week", "Dates", "Submitted", "Left the queue", "Waiting at end of week"],
        [
            [q.week.iso_label, q.week.dates_label, q.submitted, q.left, q.waiting]
            for q in data.queue
        ],
        text_columns=2,
    )
    series = [Series("Waiting for review", [q.waiting for q in data.queue], tone=0)]
    figure = Figure(
        slug="flow-queue",
        title="Review queue over time",
        note=(
            f"Items waiting for an editor's decision at the end of each week "
            f"({data.queue_at_start} were waiting when the period began)."
        )
        + _partial_note(period),
        charts=[
            charts.line_chart(
                "chart-flow-queue",
                _week_labels(period.weeks),
                series,
                width=WIDE,
                title="Items waiting for review at the end of each week",
                last_partial=_in_progress(period),
                description=_describe(period, "Review queue size at the end of each week"),
                area=True,
            )
        ],
        table=queue_table,
    )
    decision_detail = " · ".join(
        x
        for x in (_days(data.median_hours_to_decision), f"{_count(data.decisions)} decisions")
        if x
    )
    publication_detail = " · ".join(
        x
        for x in (_days(data.median_hours_to_publication), f"{_count(data.publications)} published")
        if x
    )
    key_figures = [
        KeyFigure(
            "Median time to decision",
            data.median_hours_to_decision,
            "hours",
            decision_detail,
        ),
        KeyFigure(
            "Median approval to publication",
            data.median_hours_to_publication,
            "hours",
            publication_detail,
        ),
        KeyFigure(
            "Acceptance rate",
            data.acceptance_rate,
            "%",
            f"{_count(data.approved)} approved, {_count(data.rejected)} rejected, "
            f"{_count(data.changes_requested)} sent back for changes",
        ),
        KeyFigure("Waiting now", data.queue_now, "", "at the end of the period"),
    ]
    return Section(
        slug="flow",
        title="Editorial flow",
        intro=(
            "How quickly do colleagues hear back, and does the queue keep up? A quick decision "
            "keeps contributors motivated; approval to publication is mostly the weekly rhythm of "
            "editions. Acceptance counts final decisions only (approved or rejected)."
        ),
        key_figures=key_figures,
        figures=[figure],
        empty=None
        if not data.is_empty
        else ("No editorial activity in this period", "Nothing was submitted or decided."),
    )


# Newsletter health --------------------------------------------------------------------------------
def newsletter_section(data: queries.NewsletterHealth, period: Period) -> Section:
    editions = data.editions
    labels = [f"#{e.number}" for e in editions]
    table = _table(
        "newsletter-editions",
        "Newsletter health per edition",
        [
            "Edition",
            "Sent on",
            "Recipients",
            "Sent",
            "Failed",
            "Unsubscribed since",
            "Web views",
            "Reactions",
        ],
        [
            [
                f"#{e.number}",
                e.sent_at.astimezone(ZoneInfo(period.timezone)).date().isoformat(),
                e.recipients,
                e.sent,
                e.failed,
                e.unsubscribed_since,
                e.web_views,
                e.reactions,
            ]
            for e in editions
        ],
        text_columns=2,
    )
    delivery = [
        Series("Sent", [e.sent for e in editions], tone=2),
        Series("Failed", [e.failed for e in editions], tone=4),
    ]
    engagement = [
        Series("Web views", [e.web_views for e in editions], tone=3),
        Series("Reactions", [e.reactions for e in editions], tone=0),
    ]
    figure = Figure(
        slug="newsletter-editions",
        title="Editions sent in this period",
        note=(
            "Unsubscribed since counts colleagues who opted out after that edition went out; "
            "reactions are applause on the edition's stories."
        ),
        charts=[
            charts.column_chart(
                "chart-newsletter-delivery",
                labels,
                delivery,
                width=WIDE,
                title="Emails sent and failed per edition",
                description=_describe(period, "Emails sent and failed per edition"),
                stacked=True,
                height=220,
            ),
            charts.line_chart(
                "chart-newsletter-engagement",
                labels,
                engagement,
                width=WIDE,
                title="Web views and reactions per edition",
                description=_describe(period, "Web views and reactions per edition"),
                height=200,
            ),
        ],
        table=table,
        legend=_legend(delivery + engagement),
    )
    key_figures = [
        KeyFigure("Editions sent", len(editions)),
        KeyFigure(
            "Delivered",
            data.delivery_rate,
            "%",
            f"{_count(data.sent)} of {_count(data.recipients)} emails",
        ),
        KeyFigure(
            "Opened",
            data.open_rate,
            "%",
            f"{_count(data.opened)} unique opens in {_editions(data.opens_measured_in)} measured",
        ),
        KeyFigure(
            "Clicked",
            data.click_rate,
            "%",
            f"{_count(data.clicked)} unique clicks in {_editions(data.clicks_measured_in)} "
            "measured",
        ),
        KeyFigure("Web views", data.web_views),
        KeyFigure("Reactions", data.reactions),
        KeyFigure("Unsubscribed in this period", data.unsubscribed_in_period),
    ]
    return Section(
        slug="newsletter",
        title="Newsletter health",
        intro=(
            "Does the newsletter reach people and move them? Delivery shows the reach, opens, "
            "clicks, web views and reactions the engagement, and unsubscribes the cost. These "
            "figures are company-wide: the team filter does not apply."
        ),
        key_figures=key_figures,
        figures=[figure, readership_figure(data, period)],
        empty=None
        if not data.is_empty
        else (
            "No edition sent in this period",
            "Newsletter health appears once an edition goes out.",
        ),
    )


def _editions(n: int) -> str:
    return f"{n:,} {'edition' if n == 1 else 'editions'}"


def readership_figure(data: queries.NewsletterHealth, period: Period) -> Figure:
    """Opens and clicks per edition (app/engagement/queries.py defines each figure; the edition's
    own page has the full report). Empty cells: not measured when that edition was sent."""
    zone = ZoneInfo(period.timezone)
    figures = [(e, e.readership) for e in data.editions if e.readership is not None]
    table = _table(
        "newsletter-readership",
        "Opens and clicks per edition",
        [
            "Edition",
            "Sent on",
            "Delivered",
            "Opened",
            "Open rate (%)",
            "Privacy-proxy opens",
            "Clicked",
            "Click rate (%)",
            "Click-to-open (%)",
        ],
        [
            [
                f"#{e.number}",
                e.sent_at.astimezone(zone).date().isoformat(),
                f.delivered,
                f.opened if f.opens_measured else None,
                f.open_rate,
                f.proxy_opened if f.opens_measured else None,
                f.clicked if f.clicks_measured else None,
                f.click_rate,
                f.click_to_open,
            ]
            for e, f in figures
        ],
        text_columns=2,
    )
    series = [
        Series("Open rate", [f.open_rate for _, f in figures], tone=1),
        Series("Click rate", [f.click_rate for _, f in figures], tone=2),
    ]
    measured = any(f.opens_measured or f.clicks_measured for _, f in figures)
    return Figure(
        slug="newsletter-readership",
        title="Opens and clicks per edition",
        note=(
            "Unique opens and clicks count each email once, as a share of delivered emails. "
            "Opens are a lower bound (many mail programs block images); privacy proxies such as "
            "Apple Mail Privacy Protection load every image on delivery, so their opens are "
            "counted apart and not as reads. An empty cell means not measured: counting was off "
            "when that edition was sent. Aggregate-only analytics (the default) records no "
            "one's reading; per-person analytics adds a by-team view on each edition's page."
        ),
        charts=[
            charts.line_chart(
                "chart-newsletter-readership",
                [f"#{e.number}" for e, _ in figures],
                series,
                width=WIDE,
                title="Open and click rates per edition",
                description=_describe(period, "Unique open and click rates (%) per edition"),
                height=200,
            )
        ]
        if measured
        else [],
        table=table,
        legend=_legend(series) if measured else [],
    )


# Assembly -----------------------------------------------------------------------------------------
SECTION_BUILDERS: dict[str, Callable[..., Section]] = {
    "participation": participation_section,
    "recognition": recognition_section,
    "touchpoints": touchpoints_section,
    "voice": voice_section,
    "quotes": quotes_section,
    "flow": flow_section,
    "newsletter": newsletter_section,
}

# Which section computes each exportable table ("summary" is every key figure).
FIGURE_SECTIONS = {
    "participation": "participation",
    "recognition-teams": "recognition",
    "recognition-people": "recognition",
    "touchpoints-weekly": "touchpoints",
    "touchpoints-teams": "touchpoints",
    "voice-trend": "voice",
    "voice-teams": "voice",
    "voice-touchpoints": "voice",
    "quotes-sources": "quotes",
    "quotes-scores": "quotes",
    "flow-queue": "flow",
    "newsletter-editions": "newsletter",
    "newsletter-readership": "newsletter",
}
SUMMARY = "summary"


def build_section(name: str, filters: Filters) -> Section:
    data = queries.SECTIONS[name](filters)
    return SECTION_BUILDERS[name](data, filters.period)


def build_report(filters: Filters) -> list[Section]:
    data = queries.insights(filters)
    return [build(getattr(data, name), filters.period) for name, build in SECTION_BUILDERS.items()]


def summary_table(sections: Sequence[Section]) -> Table:
    return _table(
        SUMMARY,
        "Key figures",
        ["Section", "Figure", "Value", "Unit", "Detail"],
        [[s.title, k.label, k.value, k.unit, k.detail] for s in sections for k in s.key_figures],
        text_columns=2,
    )


def exportable(slug: str) -> bool:
    return slug == SUMMARY or slug in FIGURE_SECTIONS


def table_for(slug: str, filters: Filters) -> Table:
    """The table of one figure, computing only its section (or the key figures of all)."""
    if slug == SUMMARY:
        return summary_table(build_report(filters))
    section = build_section(FIGURE_SECTIONS[slug], filters)
    return next(f.table for f in section.figures if f.slug == slug)
