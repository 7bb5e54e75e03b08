"""The production app for bench/concurrency.py.

BENCH_SQLITE_DEFERRED=1 (`bench/concurrency.py --deferred`) begins every SQLite transaction with
a plain deferred BEGIN, as the app did before issue 10, so the "before" figure can be measured
with today's code. A bench-only switch: the app itself has no such setting.
"""

from __future__ import annotations

import os

from app import create_app
from app import database

if os.environ.get("BENCH_SQLITE_DEFERRED") == "1":
    database.wants_write_lock = lambda: False

app = create_app()
