"""The signed-in home page and small site-wide routes."""

from __future__ import annotations

from flask import render_template

from app.auth.access import login_required
from app.auth.access import public
from app.extensions import limiter
from app.main import bp
from app.models import utcnow
from app.reading import cache
from app.reading import queries
from app.reading.views import local_timezone
from app.web.nav import nav_entry

nav_entry("Home", "main.home", order=0)


def greeting(hour: int) -> str:
    if 5 <= hour < 12:
        return "Good morning"
    if 12 <= hour < 18:
        return "Good afternoon"
    return "Good evening"


@bp.route("/")
@login_required
def home():
    """Latest edition, newest stories and quotes, a year ago this week, and a way to share."""
    tz = local_timezone()
    now = utcnow()
    week = now.astimezone(tz).isocalendar()[:2]  # "a year ago this week" moves weekly
    feed = cache.remember(("home", str(tz), week), lambda: queries.home_feed(now, tz))
    return render_template(
        "main/home.html",
        feed=feed,
        greeting=greeting(now.astimezone(tz).hour),
        now=now,
        tz=tz,
    )


@bp.route("/healthz")
@public
@limiter.exempt
def healthz():
    """Liveness for load balancers: answers without touching the database (readiness, which
    does, is /readyz in app.ops)."""
    return {"status": "ok"}
