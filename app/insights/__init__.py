"""Insights: participation, recognition coverage, touchpoints, customer voice, newsletter health."""

from flask import Blueprint

bp = Blueprint("insights", __name__, url_prefix="/insights")

from app.insights import views  # noqa: E402,F401
