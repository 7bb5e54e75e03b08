"""CSV export of a figure's table: the very `Table` the page renders, written for spreadsheets."""

from __future__ import annotations

from app.insights.periods import Period
from app.insights.report import Table
from app.web import downloads


def to_csv(table: Table) -> str:
    """Header row then data rows (app/web/downloads.py: formula-safe, Excel-readable)."""
    return downloads.to_csv(table.headers, table.rows)


def filename(slug: str, period: Period, team_id: int | None) -> str:
    team = f"-team-{team_id}" if team_id else ""
    return f"insights-{slug}-{period.slug}{team}.csv"
