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
    values: Sequence[float | None]  # None: no value (a line chart leaves a gap)
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


def signed_scale(low: float, high: float, *, steps: int = 4) -> list[float]:
    """Fixed axis ticks from `low` to `high` (a score from -100 to 100: -100, -50, 0, 50, 100)."""
    return [low + (high - low) * i / steps for i in range(steps + 1)]


def _y_axis(ticks: list[float], left: float, right: float, top: float, plot_h: float) -> list[str]:
    """Grid lines and labels; the ticks run from the lowest value shown (0, or below for a
    signed scale) to the highest."""
    parts = []
    low, high = ticks[0], ticks[-1]
    for tick in ticks:
        y = top + plot_h - plot_h * (tick - low) / (high - low)
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
    signed: bool = False,
    tones: Sequence[str] | None = None,
) -> Markup:
    """Horizontal bars with the value at the end: long category names stay readable.

    `flag_zero` marks empty categories (a team never recognized, a silent touchpoint) in the
    alert colour, because those gaps are what the reader should notice. A None value (nothing
    to measure, e.g. a share of an empty team) shows a dash and is never flagged. `scale_max`
    fixes the full-width value (100 for percentages) instead of the largest value. `signed`
    draws bars left and right of a zero line in the middle (from -scale_max to scale_max, e.g.
    a Net Promoter Score), values shown with their sign. `tones` gives each bar its own colour
    class instead of `tone`.
    """
    row_h, value_w, top, bottom = 28, 64, 6, 6
    longest = max((len(label) for label in labels), default=4)
    label_w = min(190, int(width * 0.35), int(longest * FONT_WIDTH + 16))
    # A signed chart keeps room for a value label at both ends.
    plot_x = label_w + (value_w if signed else 0)
    plot_w = width - plot_x - value_w
    height = top + bottom + row_h * max(len(labels), 1)
    peak = scale_max or max((abs(v) for v in values if v is not None), default=0) or 1
    zero = plot_x + plot_w / 2 if signed else plot_x
    unit = plot_w / 2 / peak if signed else plot_w / peak
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
        w = unit * abs(value or 0)
        x = zero - w if value and value < 0 else zero
        shown = "–" if value is None else f"{_signed(value) if signed else _num(value)}"
        shown += "" if value is None else value_suffix
        if value:
            bar_class = tones[i] if tones else f"tone-{tone}"
            body.append(
                f'<rect class="chart-bar {bar_class}" x="{x:.1f}" y="{y + 5}" width="{w:.1f}" '
                f'height="{row_h - 10}" rx="3">'
                f"<title>{escape(label)}: {escape(shown)}</title></rect>"
            )
        value_class = "chart-value chart-value--gap" if gap else "chart-value"
        if value is not None and value < 0:
            value_x, anchor = x - 6, "end"
        else:
            value_x, anchor = zero + w + 6, "start"
        body.append(
            f'<text class="{value_class}" x="{value_x:.1f}" y="{y + row_h / 2 + 4:.1f}" '
            f'text-anchor="{anchor}">{escape(shown)}</text>'
        )
    body.append(f'<line class="chart-axis" x1="{zero:g}" x2="{zero:g}" y1="0" y2="{height}"/>')
    return _svg(chart_id, width, height, title, description, body)


def _signed(value: float) -> str:
    return f"+{_num(value)}" if value > 0 else _num(value)


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
    ticks: list[float] | None = None,
) -> Markup:
    """Lines over time, one per series; `area` shades under a single series (a level, e.g. queue).

    `last_partial` draws the segment to the last point dashed: that week is still under way, so
    its dip is not a drop in activity. `ticks` fixes the axis (e.g. `signed_scale(-100, 100)` for
    a score that can be negative); a None value (nothing measured that week) breaks the line.
    """
    left, right, top, bottom = 48, 16, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(labels)
    if ticks is None:
        ticks = nice_scale(max((v for s in series for v in s.values if v is not None), default=0))
    low, high = ticks[0], ticks[-1]

    def x_at(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y_at(v: float) -> float:
        return top + plot_h - plot_h * (v - low) / (high - low)

    body = _y_axis(ticks, left, width - right, top, plot_h)
    for s in series:
        coords = [
            None if v is None else f"{x_at(i):.1f},{y_at(v):.1f}" for i, v in enumerate(s.values)
        ]
        if area and n and None not in coords:
            base = y_at(max(low, 0))
            body.append(
                f'<polygon class="chart-area tone-{s.tone}" '
                f'points="{x_at(0):.1f},{base} {" ".join(coords)} {x_at(n - 1):.1f},{base}"/>'
            )
        dashed = last_partial and n > 1 and coords[-1] is not None and coords[-2] is not None
        for run in _runs(coords[:-1] if dashed else coords):
            body.append(f'<polyline class="chart-line tone-{s.tone}" points="{" ".join(run)}"/>')
        if dashed:
            body.append(
                f'<polyline class="chart-line chart-line--partial tone-{s.tone}" '
                f'points="{coords[-2]} {coords[-1]}"/>'
            )
        if n <= 60:
            for i, v in enumerate(s.values):
                if v is None:
                    continue
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
    axis = y_at(max(low, 0))  # the zero line, or the bottom
    body.append(
        f'<line class="chart-axis" x1="{left}" x2="{width - right}" y1="{axis:g}" y2="{axis:g}"/>'
    )
    return _svg(chart_id, width, height, title, description, body)


def _runs(coords: Sequence[str | None]) -> list[list[str]]:
    """The unbroken stretches of a line (a None is a gap); a lone point is drawn as its dot."""
    runs: list[list[str]] = [[]]
    for point in coords:
        if point is None:
            runs.append([])
        else:
            runs[-1].append(point)
    return [run for run in runs if len(run) > 1]


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
