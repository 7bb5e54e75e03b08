"""Insights for editors and admins: one page of figures, and a CSV per figure."""

from __future__ import annotations

from flask import abort
from flask import render_template
from flask import request

from app.auth.access import curator_required
from app.insights import bp
from app.insights import export
from app.insights import queries
from app.insights import report
from app.insights.periods import PERIOD_CHOICES
from app.insights.periods import resolve_period
from app.insights.queries import Filters
from app.numbers import bounded_int
from app.settings import page_settings
from app.web.downloads import csv_download
from app.web.nav import CURATORS
from app.web.nav import nav_entry

nav_entry("Insights", "insights.index", roles=CURATORS, order=60)


def _filters() -> tuple[Filters, str | None, list[tuple[int, str]]]:
    """Period and team from the query string; unknown values fall back with a message."""
    period, problem = resolve_period(request.args, timezone=page_settings()["timezone"])
    teams = queries.team_choices()
    team_id = request.args.get("team", type=bounded_int)
    if team_id is not None and team_id not in {tid for tid, _ in teams}:
        team_id = None
        problem = " ".join(p for p in (problem, "Unknown team; showing all teams.") if p)
    return Filters(period=period, team_id=team_id), problem, teams


@bp.route("/")
@curator_required
def index():
    filters, problem, teams = _filters()
    sections = report.build_report(filters)
    return render_template(
        "insights/index.html",
        filters=filters,
        period=filters.period,
        problem=problem,
        teams=teams,
        team_name=dict(teams).get(filters.team_id) if filters.team_id else None,
        period_choices=PERIOD_CHOICES,
        sections=sections,
    )


@bp.route("/export/<section>.csv")
@curator_required
def export_csv(section: str):
    """`section` names one figure (e.g. "participation", "voice-trend") or "summary"."""
    if not report.exportable(section):
        abort(404)
    filters, _, _ = _filters()
    table = report.table_for(section, filters)
    name = export.filename(section, filters.period, filters.team_id)
    return csv_download(name, table.headers, table.rows)
