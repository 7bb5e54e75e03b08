"""The edition's readership report as the page shows it: figures with their rates, and each one
compared with the average of the previous editions (▲/▼ and by how much).

Rates are compared in percentage points, counts as counts. An edition where a figure was not
measured (opens or clicks off when it was sent) is left out of that figure's average, so
"not measured" never pulls an average down to zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.engagement.queries import EditionFigures
from app.engagement.queries import EditionReadership


@dataclass(frozen=True)
class Comparison:
    label: str
    value: float | None  # None: not measured for this edition
    average: float | None  # None: no previous edition measured it
    compared: int  # previous editions in the average
    percent: bool
    higher_is_better: bool = True

    @property
    def delta(self) -> float | None:
        if self.value is None or self.average is None:
            return None
        return round(self.value - self.average, 1)

    @property
    def direction(self) -> str:
        """"up", "down" or "same" (rounded to the shown precision); "" when not comparable."""
        delta = self.delta
        if delta is None:
            return ""
        return "up" if delta > 0 else "down" if delta < 0 else "same"

    @property
    def tone(self) -> str:
        """"good" / "bad" / "" for the colour; the arrow alone says the direction."""
        if self.direction in ("", "same"):
            return ""
        return "good" if (self.direction == "up") == self.higher_is_better else "bad"

    @property
    def arrow(self) -> str:
        return {"up": "▲", "down": "▼", "same": "="}.get(self.direction, "")

    def show(self, number: float | None) -> str:
        if number is None:
            return "not measured"
        if self.percent:
            return f"{number:.1f} %"
        return f"{number:,.1f}".removesuffix(".0")

    @property
    def delta_text(self) -> str:
        delta = self.delta
        if delta is None:
            return ""
        size = f"{abs(delta):.1f}" if self.percent else f"{abs(delta):,.1f}".removesuffix(".0")
        if self.direction == "same":
            return "= no change"
        return f"{self.arrow} {size}{' pts' if self.percent else ''}"


def _average(values: list[float | None]) -> tuple[float | None, int]:
    measured = [v for v in values if v is not None]
    if not measured:
        return None, 0
    return round(sum(measured) / len(measured), 1), len(measured)


FIGURES: list[tuple[str, Callable[[EditionFigures], float | None], bool, bool]] = [
    # (label, value, is a percentage, higher is better)
    ("Delivered", lambda f: f.delivered, False, True),
    ("Open rate", lambda f: f.open_rate, True, True),
    ("Click rate", lambda f: f.click_rate, True, True),
    ("Click-to-open rate", lambda f: f.click_to_open, True, True),
    ("Web reads", lambda f: f.web_reads, False, True),
    ("Applause", lambda f: f.applause, False, True),
    # Not "Unsubscribed since": it counts everyone who opted out after a send, up to now, so
    # an older edition has always had longer to collect them and would make every new one look
    # better. The report shows the figure on its own, labelled "since".
]


def comparisons(report: EditionReadership) -> list[Comparison]:
    """Each figure of this edition against the average of the previous ones (none: empty)."""
    if not report.previous:
        return []
    result = []
    for label, value_of, percent, better in FIGURES:
        average, n = _average([value_of(f) for f in report.previous])
        result.append(Comparison(label, value_of(report.current), average, n, percent, better))
    return result
