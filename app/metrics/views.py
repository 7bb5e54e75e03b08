"""GET /metrics: the Prometheus text format, for a scraper (address allow-list or bearer token).

No session, no CSRF (a GET), no rate limit (a scraper polls on its own schedule, and a
refusal would look like an outage), never cached.
"""

from __future__ import annotations

from flask import Response

from app.extensions import db
from app.extensions import limiter
from app.metrics import bp
from app.metrics import exposition
from app.metrics.access import metrics_access


@bp.route("/metrics")
@limiter.exempt
@metrics_access
def metrics() -> Response:
    return Response(exposition.render(db.engine), content_type=exposition.CONTENT_TYPE,
                    headers={"Cache-Control": "no-store"})
