"""The file name of a figure's CSV download (the table is the one the page renders; writing it:
app/web/downloads.py)."""

from __future__ import annotations

from app.insights.periods import Period


def filename(slug: str, period: Period, team_id: int | None) -> str:
    team = f"-team-{team_id}" if team_id else ""
    return f"insights-{slug}-{period.slug}{team}.csv"
