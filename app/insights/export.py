"""CSV export of a figure's table: the very `Table` the page renders, written for spreadsheets."""

from __future__ import annotations

import csv
import io
import re

from app.insights.periods import Period
from app.insights.report import Table

_NUMBER = re.compile(r"-?\d+(\.\d+)?")
# A cell starting with one of these is run as a formula by spreadsheet programs.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """Neutralise formula injection in text cells (a team named "=HYPERLINK(...)"); numbers,
    including negative ones, are left alone so they stay numbers."""
    if value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def to_csv(table: Table) -> str:
    """Header row then data rows, UTF-8 with a byte-order mark so Excel detects the encoding."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in table.headers])
    writer.writerows([safe_cell(c) for c in row] for row in table.rows)
    return "\ufeff" + buffer.getvalue()


def filename(slug: str, period: Period, team_id: int | None) -> str:
    team = f"-team-{team_id}" if team_id else ""
    return f"insights-{slug}-{period.slug}{team}.csv"
