from __future__ import annotations

from flask import render_template

from app.auth.access import login_required, public
from app.main import bp
from app.web.nav import nav_entry

nav_entry("Home", "main.home", order=0)


@bp.route("/")
@login_required
def home():
    return render_template("main/home.html")


@bp.route("/healthz")
@public
def healthz():
    """Liveness for load balancers: answers without touching the database."""
    return {"status": "ok"}
