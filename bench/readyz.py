"""Benchmark the health checks: what `/healthz` and `/readyz` cost, and /readyz against /healthz
in the same process (the readiness probe opens a fresh connection, runs `SELECT 1`, reads the
schema revision and the heartbeats on every call).

    .venv/bin/python bench/readyz.py                     # a migrated temp SQLite file
    .venv/bin/python bench/readyz.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

With a PostgreSQL URL a fresh database is created next to the given one and dropped afterwards.
Prints the median and p95 of each path over --requests calls (after 20 warm-up calls) and the
ratio of /readyz to /healthz. Target: /readyz under 50 ms at p95 (a load balancer polls it
every few seconds from every instance).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402


def _measure(client, path: str, requests: int) -> list[float]:
    for _ in range(20):
        client.get(path)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}: {response.get_data()!r}")
    return sorted(times)


def run(url: str, requests: int) -> int:
    from flask_migrate import upgrade

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, RATELIMIT_ENABLED=False)
    with app.app_context():
        upgrade()
    client = app.test_client()
    medians = {}
    for path in ("/healthz", "/readyz"):
        times = _measure(client, path, requests)
        medians[path] = statistics.median(times)
        p95 = times[int(len(times) * 0.95)]
        print(f"{path:9} median {medians[path]:6.2f} ms   p95 {p95:6.2f} ms   ({requests} calls)")
    print(f"ratio     /readyz is {medians['/readyz'] / medians['/healthz']:.1f}x /healthz")
    p95_ready = _measure(client, "/readyz", requests)[int(requests * 0.95)]
    ok = p95_ready < 50
    print(f"result    {'OK' if ok else 'SLOW'} (/readyz p95 {p95_ready:.1f} ms, target < 50 ms)")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (a fresh database is made)")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    if not args.database_url:
        with tempfile.TemporaryDirectory() as folder:
            return run(f"sqlite:///{folder}/bench.db", args.requests)
    base = sa.make_url(args.database_url).set(drivername="postgresql+psycopg")
    name = f"fgf_bench_readyz_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        return run(base.set(database=name).render_as_string(hide_password=False), args.requests)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
