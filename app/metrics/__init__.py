"""Prometheus metrics (issue 17): GET /metrics for the web, a port of its own for the scheduler.

instruments.py (what a process counts: requests, mail answers, scheduler jobs, integrations),
http.py (the request hooks), receivers.py (app.signals -> counters), queries.py + collector.py
(gauges read from the rows at scrape time), exposition.py (multiprocess or not), access.py (the
allow-list or bearer token), views.py (/metrics), scheduler.py (the scheduler's metrics port).
"""

from flask import Blueprint
from flask import Flask

bp = Blueprint("metrics", __name__)


def init_app(app: Flask) -> None:
    """Request counters and the signal receivers (called by create_app). A malformed
    METRICS_ALLOW, or a PROMETHEUS_MULTIPROC_DIR that does not exist, stops the app here, at
    start, rather than failing every request or scrape later."""
    import os
    from pathlib import Path

    from app.metrics import access
    from app.metrics import receivers
    from app.metrics import scheduler
    from app.metrics.http import init_request_metrics
    from app.metrics.instruments import MULTIPROCESS

    access.parse_allow(app.config.get("METRICS_ALLOW") or "")
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if MULTIPROCESS and not (directory and Path(directory).is_dir()):
        raise RuntimeError(
            f"PROMETHEUS_MULTIPROC_DIR={directory!r} is not a directory: create it "
            "(gunicorn.conf.py does, at start) or unset it to count in memory")
    init_request_metrics(app)
    receivers.connect()
    scheduler.connect()


from app.metrics import views  # noqa: E402,F401
