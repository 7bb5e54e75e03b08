"""The app as gunicorn serves it in production, plus two bench-only routes.

`/bench/ceiling` returns a constant string through the same app (middleware, session, security
headers), so a page's throughput divided by the ceiling's says how much the page itself costs,
whatever the machine. `/bench/signed-in` is the floor of every signed-in page: the shared layout
(navigation, account menu) around nothing, for the signed-in user. Neither exists in the app.
"""

from __future__ import annotations

from flask import render_template

from app import create_app
from app.auth.access import login_required
from app.auth.access import public
from app.web.context import org_timezone

app = create_app()  # READING_CACHE_SECONDS from the environment (bench/pages.py --cache-seconds)


@public
def ceiling() -> str:
    return "ok"


@login_required
def signed_in() -> str:
    org_timezone()  # every reading page shows times in the organization's time zone
    return render_template("errors/404.html", status=200)


app.add_url_rule("/bench/ceiling", "bench_ceiling", ceiling)
app.add_url_rule("/bench/signed-in", "bench_signed_in", signed_in)
