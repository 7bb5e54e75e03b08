"""Operating the app: liveness and readiness, the scheduler's heartbeat, structured logs with a
request id, optional error reporting (issue 17).

logs.py (the root handler: JSON or text, request id, redaction), request_id.py (the id and the
per-request log line), reporting.py (Sentry), readiness.py (`/readyz`'s checks), queries.py /
services.py (heartbeat reads and writes), subscribers.py (the heartbeat job and the scheduler's
start/stop signals), notices.py (the editors' warning), views.py (`/readyz`, Admin → System).
"""

from flask import Blueprint
from flask import Flask

bp = Blueprint("ops", __name__)


def init_app(app: Flask) -> None:
    """Request id, JSON logs and error reporting for this app (called by create_app)."""
    from app.ops import logs
    from app.ops import reporting
    from app.ops import request_id
    from app.ops.notices import scheduler_warning

    logs.init_app(app)
    request_id.init_app(app)
    reporting.init_app(app)
    app.add_template_global(scheduler_warning, "scheduler_warning")


from app.ops import views  # noqa: E402,F401
