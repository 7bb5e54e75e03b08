"""Insights: participation, recognition, touchpoints, customer voice, curated quotes, newsletter."""

from flask import Blueprint

bp = Blueprint("insights", __name__, url_prefix="/insights")

from app.insights import views  # noqa: E402,F401
