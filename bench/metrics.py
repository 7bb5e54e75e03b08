"""Benchmark /metrics: what a scrape costs with 20,000 deliveries, and what the request
middleware adds to every request, with and without prometheus_client's multiprocess mode.

    .venv/bin/python bench/metrics.py                          # 20,000 deliveries, temp SQLite
    .venv/bin/python bench/metrics.py --deliveries 200000      # a bigger history
    .venv/bin/python bench/metrics.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

Seeds the deliveries (four sent editions, a few percent failed, some sent in the last minute) in
a throwaway database (a temp SQLite file, or a fresh PostgreSQL database dropped afterwards),
then, in one subprocess per mode (the mode is fixed when prometheus_client is imported):

* scrape: GET /metrics through the test client, --scrapes times; median and p95, and the
  database collector alone (its three statements);
* middleware: GET /healthz --requests times with the request hooks and as many without them
  (removed from the same app), alternating in 50 short rounds so drift hits both; the median
  per-request time of each, the overhead (the median of the rounds' paired differences: robust
  to the drift of a shared machine) and the ratio (without + overhead) / without.

Prints one line per mode. Targets: a scrape under 50 ms at 20,000 deliveries; the middleware
under 100 us a request.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

CHUNK = 5_000
TARGET_SCRAPE_MS = 50
TARGET_OVERHEAD_US = 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: temp SQLite)")
    parser.add_argument("--child", choices=["memory", "multiprocess"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.url, args.scrapes, args.requests)))
        return 0

    with tempfile.TemporaryDirectory(prefix="fgf-bench-metrics-") as tmp, \
            _database(args.database_url, Path(tmp)) as url:
        started = time.perf_counter()
        _seed(url, args.deliveries)
        print(f"seeded {args.deliveries:,} deliveries in {time.perf_counter() - started:.1f} s "
              f"({sa.make_url(url).get_backend_name()})", flush=True)
        failures = 0
        for mode in ("memory", "multiprocess"):
            env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
            if mode == "multiprocess":
                env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(dir=tmp)
            out = subprocess.run(  # noqa: S603
                [sys.executable, __file__, "--child", mode, "--url", url,
                 "--scrapes", str(args.scrapes), "--requests", str(args.requests)],
                env=env, check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            overhead_us = r["overhead_us"]
            print(f"{mode:>12}: scrape median {r['scrape_ms']:.1f} ms, p95 {r['scrape_p95_ms']:.1f}"
                  f" ms (database part {r['collector_ms']:.1f} ms, {r['statements']} statements,"
                  f" {r['bytes']:,} bytes); GET /healthz {r['with_us']:.0f} us with the "
                  f"middleware, {r['without_us']:.0f} us without: +{overhead_us:.0f} us "
                  f"(ratio {(r['without_us'] + overhead_us) / r['without_us']:.3f})")
            failures += r["scrape_ms"] > TARGET_SCRAPE_MS or overhead_us > TARGET_OVERHEAD_US
    return 1 if failures else 0


class _database:
    """A throwaway database: a SQLite file in `tmp`, or a fresh PostgreSQL database."""

    def __init__(self, server_url: str | None, tmp: Path) -> None:
        self.server_url, self.tmp, self.name = server_url, tmp, None

    def __enter__(self) -> str:
        if not self.server_url:
            return f"sqlite:///{self.tmp / 'bench.db'}"
        base = sa.make_url(self.server_url).set(drivername="postgresql+psycopg")
        self.name = f"fgf_bench_metrics_{uuid.uuid4().hex[:8]}"
        self.admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        return base.set(database=self.name).render_as_string(hide_password=False)

    def __exit__(self, *exc: object) -> None:
        if self.name is not None:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.admin.dispose()


def _seed(url: str, deliveries: int) -> None:
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.models import Delivery
    from app.models import DeliveryStatus
    from app.models import Edition
    from app.models import EditionStatus

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, LOG_LEVEL="WARNING")
    with app.app_context():
        upgrade()
        now = datetime.now(UTC)
        editions = 4
        ids = [db.session.scalar(sa.insert(Edition).values(
            number=n, status=EditionStatus.SENT, subject=f"Bench {n}", sent_at=now,
            created_at=now, updated_at=now).returning(Edition.id)) for n in range(1, editions + 1)]
        per_edition = -(-deliveries // editions)
        rows = []
        for i in range(deliveries):
            failed = i % 40 == 0
            sent_at = now - timedelta(seconds=(i % 3600) if i % 7 else 30)
            rows.append({
                "edition_id": ids[i // per_edition], "email": f"person{i}@staff.example.com",
                "status": DeliveryStatus.FAILED if failed else DeliveryStatus.SENT,
                "attempts": 1, "message_id": f"<bench.{i}@example.com>",
                "sent_at": None if failed else sent_at, "created_at": now})
            if len(rows) == CHUNK:
                db.session.execute(sa.insert(Delivery), rows)
                rows = []
        if rows:
            db.session.execute(sa.insert(Delivery), rows)
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # The steady state autovacuum reaches after a send: statistics and a visibility map
            # (so a count can read the index alone).
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE deliveries")
        db.engine.dispose()


def _measure(url: str, scrapes: int, requests: int) -> dict:
    from app import create_app
    from app.extensions import db
    from app.metrics import exposition
    from app.metrics import http
    from app.metrics.collector import DatabaseCollector
    from tests.querycount import count_queries

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, LOG_LEVEL="WARNING",
                     RATELIMIT_ENABLED=False)
    client = app.test_client()
    with app.app_context():
        for _ in range(3):  # warm: connections, compiled statements
            client.get("/metrics")
        times = []
        for _ in range(scrapes):
            started = time.perf_counter()
            response = client.get("/metrics")
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
        size = len(response.data)
        collector = []
        for _ in range(scrapes):
            started = time.perf_counter()
            exposition.generate_latest(DatabaseCollector(db.engine))
            collector.append(time.perf_counter() - started)
        with count_queries() as queries:
            client.get("/metrics")

    before, after = app.before_request_funcs[None], app.after_request_funcs[None]

    def hooks(on: bool) -> None:
        if on and http.start_clock not in before:
            before.insert(0, http.start_clock)
            after.insert(0, http.count_request)
        elif not on and http.start_clock in before:
            before.remove(http.start_clock)
            after.remove(http.count_request)

    def per_request(n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            client.get("/healthz")
        return time.perf_counter() - started

    rounds = 50
    per_round = max(1, requests // rounds)
    per_request(200)  # warm
    with_, without = [], []
    for _ in range(rounds):  # alternating short rounds: the machine's drift hits both alike
        hooks(True)
        with_.append(per_request(per_round) / per_round)
        hooks(False)
        without.append(per_request(per_round) / per_round)
    hooks(True)
    overhead = statistics.median(w - wo for w, wo in zip(with_, without, strict=True))
    return {
        "scrape_ms": statistics.median(times) * 1e3,
        "scrape_p95_ms": sorted(times)[int(len(times) * 0.95) - 1] * 1e3,
        "collector_ms": statistics.median(collector) * 1e3,
        "statements": queries.count,
        "bytes": size,
        "with_us": statistics.median(with_) * 1e6,
        "without_us": statistics.median(without) * 1e6,
        "overhead_us": overhead * 1e6,
    }


if __name__ == "__main__":
    sys.exit(main())
