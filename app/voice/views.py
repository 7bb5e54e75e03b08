"""The editors' customer-voice inbox (thin views over app/voice services and queries)."""

from __future__ import annotations

from flask import render_template

from app.auth.access import curator_required
from app.voice import bp


@bp.route("/")
@curator_required
def inbox():
    return render_template("voice/inbox.html")
