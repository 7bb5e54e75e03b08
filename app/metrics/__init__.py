"""Prometheus metrics at /metrics (issue 17). Filled in by app/metrics/*."""

from flask import Blueprint
from flask import Flask

bp = Blueprint("metrics", __name__)


def init_app(app: Flask) -> None:
    """Request counters and the signal receivers (called by create_app)."""
