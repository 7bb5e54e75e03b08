"""`/readyz` for load balancers and orchestrators, and Admin → System status.

Both read app.ops.readiness; the page adds the scheduler processes one by one.
"""

from __future__ import annotations

from flask import current_app
from flask import jsonify
from flask import render_template

from app.auth.access import admin_required
from app.auth.access import public
from app.extensions import limiter
from app.models import utcnow
from app.ops import bp
from app.ops.queries import scheduler_status
from app.ops.readiness import readiness
from app.web.nav import ADMINS
from app.web.nav import nav_entry

nav_entry("System status", "ops.system", roles=ADMINS, menu="user", order=86)


@bp.route("/readyz")
@public
@limiter.exempt
def readyz():
    """Ready to serve: the database answers on a new connection and its schema is not behind
    the code (app.ops.readiness). No session, no cache: each probe asks again."""
    body, status = readiness(current_app._get_current_object(), utcnow()).as_json()
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/admin/system")
@admin_required
def system():
    """The database (kind, schema revision against the code's, round trip), the scheduler
    processes seen, and a warning when none was seen within SCHEDULER_STALE_SECONDS."""
    now = utcnow()
    report = readiness(current_app._get_current_object(), now)
    status = scheduler_status(now) if report.ready else None
    return render_template("ops/system.html", report=report, scheduler=status, now=now)
