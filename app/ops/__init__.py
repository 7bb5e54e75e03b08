"""Operating the app: liveness and readiness, the scheduler's heartbeat, structured logs with a
request id, optional error reporting (issue 17). Filled in by app/ops/*."""

from flask import Blueprint
from flask import Flask

bp = Blueprint("ops", __name__)


def init_app(app: Flask) -> None:
    """Request id, JSON logs and error reporting for this app (called by create_app)."""
