"""The app as gunicorn serves it in production, plus one bench-only route: the ceiling.

`/bench/ceiling` returns a constant string through the same app (middleware, session, security
headers), so a page's throughput divided by the ceiling's says how much the page itself costs,
whatever the machine. It exists only here, never in the app.
"""

from __future__ import annotations

import os

from app import create_app
from app.auth.access import public

app = create_app()
# bench/pages.py --cache-seconds N (config.py does not read this variable yet).
app.config["READING_CACHE_SECONDS"] = int(os.environ.get("READING_CACHE_SECONDS", "60"))


@public
def ceiling() -> str:
    return "ok"


app.add_url_rule("/bench/ceiling", "bench_ceiling", ceiling)
