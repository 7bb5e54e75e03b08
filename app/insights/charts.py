"""Server-side SVG charts: columns, horizontal bars, lines and a heatmap.

Why SVG strings rather than a JavaScript library: the page works without scripts under the strict
CSP, prints well, and costs nothing to load. Colours come from CSS classes (insights.css), so the
charts follow the light and dark themes; only geometry lives here. Each chart is an image with a
<title> and <desc> for assistive technology, and the page puts the same numbers in a table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup
from markupsafe import escape

WIDTH = 720  # default viewBox width; figures pass a width matching their layout
FONT_WIDTH = 6.6  # average width of a 12px system-ui character, for label fitting


@dataclass(frozen=True)
class Series:
    """One named row of values. `tone` picks the colour; `point_tones` colours single points."""

    name: str
    values: Sequence[float]
    tone: int = 0
    point_tones: Sequence[str] | None = None


def _num(value: float) -> str:
    """Compact numbers for labels: 12, 3.5, 1,200."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _fit(text: str, width: float) -> str:
    """Shorten a label to the pixels available; the full text stays in the tooltip and table."""
    limit = max(3, int(width / FONT_WIDTH))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def nice_scale(max_value: float, *, steps: int = 4) -> list[float]:
    """Axis ticks from 0 to a round top value (1, 2, 5 × 10^n steps; whole steps for counts)."""
    if max_value <= 0:
        return [0, 1]
    raw = max_value / steps
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(step, 1) if max_value >= 1 else step
    count = math.ceil(max_value / step - 1e-9)
    return [round(i * step, 6) for i in range(count + 1)]


def _svg(
    chart_id: str, width: int, height: float, title: str, description: str, body: list[str]
) -> Markup:
    head = (
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {width} {height:.0f}" '
        f'width="{width}" height="{height:.0f}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every value above is escaped


def _every(count: int, room: float, label_width: float) -> int:
    """Label every n-th category so labels do not collide."""
    return max(1, math.ceil(count * label_width / max(room, 1)))


def _y_axis(ticks: list[float], left: float, right: float, top: float, plot_h: float) -> list[str]:
    parts = []
    for tick in ticks:
        y = top + plot_h - plot_h * tick / ticks[-1]
        parts.append(
            f'<line class="chart-grid" x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="chart-tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_num(tick)}</text>"
        )
    return parts


def column_chart(
    chart_id: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    description: str,
    width: int = WIDTH,
    stacked: bool = False,
    height: int = 260,
) -> Markup:
    """Vertical bars per category: side by side (grouped) or stacked."""
    left, right, top, bottom = 48, 12, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(labels), 1)
    if stacked:
        peak = max((sum(s.values[i] for s in series) for i in range(len(labels))), default=0)
    else:
        peak = max((v for s in series for v in s.values), default=0)
    ticks = nice_scale(peak)
    top_value = ticks[-1]
    band = plot_w / n
    group = min(band * 0.7, 72)  # a few categories make columns, not walls
    bar_w = group if stacked else group / max(len(series), 1)
    body = _y_axis(ticks, left, width - right, top, plot_h)
    for i, label in enumerate(labels):
        x0 = left + i * band + (band - group) / 2
        base = top + plot_h
        for j, s in enumerate(series):
            value = s.values[i]
            h = plot_h * value / top_value
            x = x0 if stacked else x0 + j * bar_w
            y = base - h
            tone = s.point_tones[i] if s.point_tones else f"tone-{s.tone}"
            if value:
                body.append(
                    f'<rect class="chart-bar {tone}" x="{x:.1f}" y="{y:.1f}" '
                    f'width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}">'
                    f"<title>{escape(label)} · {escape(s.name)}: {_num(value)}</title></rect>"
                )
            if stacked:
                base = y
    step = _every(n, plot_w, max((len(label) for label in labels), default=1) * FONT_WIDTH + 8)
    for i, label in enumerate(labels):
        if i % step == 0:
            x = left + i * band + band / 2
            body.append(
                f'<text class="chart-label" x="{x:.1f}" y="{height - bottom + 18}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    body.append(
        f'<line class="chart-axis" x1="{left}" x2="{width - right}" '
        f'y1="{top + plot_h}" y2="{top + plot_h}"/>'
    )
    return _svg(chart_id, width, height, title, description, body)


def bar_chart(
    chart_id: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    title: str,
    description: str,
    width: int = WIDTH,
    tone: int = 0,
    value_suffix: str = "",
    flag_zero: bool = False,
    scale_max: float | None = None,
) -> Markup:
    """Horizontal bars with the value at the end: long category names stay readable.

    `flag_zero` marks empty categories (a team never recognized, a silent touchpoint) in the
    alert colour, because those gaps are what the reader should notice. A None value (nothing
    to measure, e.g. a share of an empty team) shows a dash and is never flagged. `scale_max`
    fixes the full-width value (100 for percentages) instead of the largest value.
    """
    row_h, value_w, top, bottom = 28, 64, 6, 6
    longest = max((len(label) for label in labels), default=4)
    label_w = min(190, int(width * 0.35), int(longest * FONT_WIDTH + 16))
    plot_w = width - label_w - value_w
    height = top + bottom + row_h * max(len(labels), 1)
    peak = scale_max or max((v for v in values if v is not None), default=0) or 1
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * row_h
        gap = flag_zero and value is not None and not value
        label_class = "chart-label chart-label--gap" if gap else "chart-label"
        body.append(
            f'<text class="{label_class}" x="{label_w - 10}" y="{y + row_h / 2 + 4:.1f}" '
            f'text-anchor="end">{escape(_fit(label, label_w - 14))}'
            f"<title>{escape(label)}</title></text>"
        )
        w = plot_w * (value or 0) / peak
        shown = "–" if value is None else f"{_num(value)}{value_suffix}"
        if value:
            body.append(
                f'<rect class="chart-bar tone-{tone}" x="{label_w}" y="{y + 5}" width="{w:.1f}" '
                f'height="{row_h - 10}" rx="3">'
                f"<title>{escape(label)}: {_num(value)}{escape(value_suffix)}"
                f"</title></rect>"
            )
        value_class = "chart-value chart-value--gap" if gap else "chart-value"
        body.append(
            f'<text class="{value_class}" x="{label_w + w + 6:.1f}" y="{y + row_h / 2 + 4:.1f}">'
            f"{escape(shown)}</text>"
        )
    body.append(f'<line class="chart-axis" x1="{label_w}" x2="{label_w}" y1="0" y2="{height}"/>')
    return _svg(chart_id, width, height, title, description, body)


def line_chart(
    chart_id: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    description: str,
    width: int = WIDTH,
    area: bool = False,
    height: int = 240,
    last_partial: bool = False,
) -> Markup:
    """Lines over time, one per series; `area` shades under a single series (a level, e.g. queue).

    `last_partial` draws the segment to the last point dashed: that week is still under way, so
    its dip is not a drop in activity.
    """
    left, right, top, bottom = 48, 16, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(labels)
    ticks = nice_scale(max((v for s in series for v in s.values), default=0))
    top_value = ticks[-1]

    def x_at(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y_at(v: float) -> float:
        return top + plot_h - plot_h * v / top_value

    body = _y_axis(ticks, left, width - right, top, plot_h)
    for s in series:
        points = " ".join(f"{x_at(i):.1f},{y_at(v):.1f}" for i, v in enumerate(s.values))
        if area and n:
            base = top + plot_h
            body.append(
                f'<polygon class="chart-area tone-{s.tone}" '
                f'points="{x_at(0):.1f},{base} {points} {x_at(n - 1):.1f},{base}"/>'
            )
        coords = [f"{x_at(i):.1f},{y_at(v):.1f}" for i, v in enumerate(s.values)]
        if last_partial and n > 1:
            body.append(
                f'<polyline class="chart-line tone-{s.tone}" points="{" ".join(coords[:-1])}"/>'
            )
            body.append(
                f'<polyline class="chart-line chart-line--partial tone-{s.tone}" '
                f'points="{" ".join(coords[-2:])}"/>'
            )
        else:
            body.append(f'<polyline class="chart-line tone-{s.tone}" points="{" ".join(coords)}"/>')
        if n <= 60:
            for i, v in enumerate(s.values):
                body.append(
                    f'<circle class="chart-point tone-{s.tone}" cx="{x_at(i):.1f}" '
                    f'cy="{y_at(v):.1f}" r="3.5">'
                    f"<title>{escape(labels[i])} · {escape(s.name)}: {_num(v)}</title></circle>"
                )
    step = _every(n, plot_w, max((len(label) for label in labels), default=1) * FONT_WIDTH + 10)
    for i, label in enumerate(labels):
        if i % step == 0 or (n > 1 and i == n - 1 and (n - 1) % step >= step / 2):
            # The end labels sit at the plot's edges: anchor them inwards so they are not cut.
            anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
            body.append(
                f'<text class="chart-label" x="{x_at(i):.1f}" y="{height - bottom + 18}" '
                f'text-anchor="{anchor}">{escape(label)}</text>'
            )
    body.append(
        f'<line class="chart-axis" x1="{left}" x2="{width - right}" '
        f'y1="{top + plot_h}" y2="{top + plot_h}"/>'
    )
    return _svg(chart_id, width, height, title, description, body)


HEAT_LEVELS = 5


def heat_level(value: float, peak: float) -> int:
    """0 for nothing, else 1..5 in proportion to the largest cell."""
    if value <= 0 or peak <= 0:
        return 0
    return max(1, math.ceil(HEAT_LEVELS * value / peak))


def heatmap(
    chart_id: str,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    matrix: Sequence[Sequence[float]],
    *,
    title: str,
    description: str,
    width: int = WIDTH,
) -> Markup:
    """A grid of shaded cells (rows × columns); empty cells stay pale so gaps stand out."""
    longest = max((len(label) for label in row_labels), default=4)
    label_w = min(190, max(70, longest * FONT_WIDTH + 14))
    right, bottom = 8, 8
    cols = max(len(column_labels), 1)
    cell_w = (width - label_w - right) / cols
    cell_h = 28
    wide = cell_w >= 56
    header = 26
    top = header + 4
    height = top + cell_h * max(len(row_labels), 1) + bottom
    peak = max((v for row in matrix for v in row), default=0)
    body = []
    step = 1 if wide else _every(cols, width - label_w - right, 46)
    for j, label in enumerate(column_labels):
        if j % step:
            continue
        x = label_w + j * cell_w + (cell_w / 2 if wide else 0)
        anchor = "middle" if wide else "start"
        text = _fit(label, cell_w - 4) if wide else label
        body.append(
            f'<text class="chart-label" x="{x:.1f}" y="{header - 8}" text-anchor="{anchor}">'
            f"{escape(text)}<title>{escape(label)}</title></text>"
        )
    for i, row_label in enumerate(row_labels):
        y = top + i * cell_h
        body.append(
            f'<text class="chart-label" x="{label_w - 8}" y="{y + cell_h / 2 + 4:.1f}" '
            f'text-anchor="end">{escape(_fit(row_label, label_w - 12))}'
            f"<title>{escape(row_label)}</title></text>"
        )
        for j, value in enumerate(matrix[i]):
            level = heat_level(value, peak)
            x = label_w + j * cell_w
            body.append(
                f'<rect class="heat heat-{level}" x="{x + 1:.1f}" y="{y + 1}" '
                f'width="{max(cell_w - 2, 1):.1f}" height="{cell_h - 2}" rx="3">'
                f"<title>{escape(row_label)} · {escape(column_labels[j])}: {_num(value)}</title>"
                "</rect>"
            )
            if wide and value:
                body.append(
                    f'<text class="heat-text heat-text-{level}" x="{x + cell_w / 2:.1f}" '
                    f'y="{y + cell_h / 2 + 4:.1f}" text-anchor="middle">{_num(value)}</text>'
                )
    return _svg(chart_id, width, height, title, description, body)
