"""GET /metrics: the Prometheus text format, for a scraper (address allow-list or bearer token).

No session, no CSRF (a GET), no rate limit (a scraper polls on its own schedule, and a
refusal would look like an outage), never cached.
"""

from __future__ import annotations

from flask import Response
from flask import current_app

from app.extensions import limiter
from app.metrics import bp
from app.metrics import exposition
from app.metrics.access import metrics_access
from app.ops.readiness import probe_engine


@bp.route("/metrics")
@limiter.exempt
@metrics_access
def metrics() -> Response:
    # Readiness's engine: a new connection per scrape with a short connect timeout, so a
    # database that stops answering gives fgf_metrics_database_up 0, not a hung scrape (the
    # app's pool would wait as long as the operating system lets a connect wait).
    engine = probe_engine(current_app._get_current_object())  # type: ignore[attr-defined]
    return Response(exposition.render(engine), content_type=exposition.CONTENT_TYPE,
                    headers={"Cache-Control": "no-store"})
