"""Throughput of outbound webhook deliveries against a real receiver on loopback.

    .venv/bin/python bench/webhooks.py                  # 2,000 deliveries, SQLite temp DB
    .venv/bin/python bench/webhooks.py --deliveries 500 --database-url postgresql://postgres@127.0.0.1:5432/postgres

A delivery pass (app.webhooks.delivery.deliver) claims each due row with its own UPDATE, signs
the stored body (Standard Webhooks HMAC-SHA256), POSTs it, and stores the answer with the
endpoint's last success: the receiver is a threaded HTTP server in this process that answers
204 at once. The baseline, run in the same process against the same receiver, is the floor
of that work: the same bodies POSTed with `requests.post` one after another, without the
database or the signature. The ratio (pass throughput ÷ baseline throughput) says how much the
durable, signed, recorded delivery costs on top of the HTTP request itself; it also prints the
fan-out (one domain event recorded for 50 endpoints) and the signature alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def _baseline(url: str, bodies: list[bytes]) -> float:
    started = time.perf_counter()
    for body in bodies:
        with requests.post(url, data=body, headers={"Content-Type": "application/json"},
                           timeout=10, allow_redirects=False, stream=True) as response:
            response.raw.read(1000)
    return len(bodies) / (time.perf_counter() - started)


def _pending(endpoint_id: int, count: int, payload: dict) -> None:
    from app.extensions import db
    from app.models import WebhookDelivery
    from app.models import utcnow

    now = utcnow()
    db.session.execute(sa.insert(WebhookDelivery), [
        {"endpoint_id": endpoint_id, "event_type": "story.published",
         "message_id": f"msg_{uuid.uuid4().hex}", "dedupe_key": f"bench:{uuid.uuid4().hex}",
         "payload": payload, "status": "pending", "attempts": 0, "created_at": now}
        for _ in range(count)])
    db.session.commit()


def _measure(args: argparse.Namespace, url: str) -> None:
    from app.extensions import db
    from app.models import Role
    from app.models import User
    from app.models import WebhookDelivery
    from app.models import utcnow
    from app.webhooks import delivery
    from app.webhooks import services
    from app.webhooks import signing
    from app.webhooks.catalog import body as event_body
    from app.webhooks.services import EndpointData

    admin = User(email="bench@example.com", display_name="Bench", role=Role.ADMIN)
    db.session.add(admin)
    db.session.flush()
    endpoint, secret = services.create_endpoint(
        EndpointData(url=url, events=["story.published"]), actor=admin)
    db.session.commit()
    data = {"story": {"id": 1, "title": "A customer's day, made " + "x" * 200,
                      "url": "http://127.0.0.1/stories/1", "api_url": "http://127.0.0.1/api/v1/stories/1"}}
    payload = event_body("story.published", data, utcnow())
    body = delivery.encode(payload)

    rates, floors = [], []
    for _ in range(args.rounds):
        floors.append(_baseline(url, [body] * args.deliveries))
        _pending(endpoint.id, args.deliveries, payload)
        started = time.perf_counter()
        stats = delivery.deliver()
        elapsed = time.perf_counter() - started
        delivered = db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)
                                      .where(WebhookDelivery.status == "delivered"))
        db.session.execute(sa.delete(WebhookDelivery))
        db.session.commit()
        if delivered != args.deliveries:
            raise SystemExit(f"only {delivered} of {args.deliveries} delivered ({stats})")
        rates.append(args.deliveries / elapsed)
    rate, floor = statistics.median(rates), statistics.median(floors)
    print(f"delivery pass     {rate:8.0f} deliveries/s  ({1000 / rate:.2f} ms each)")
    print(f"baseline POSTs    {floor:8.0f} requests/s    ({1000 / floor:.2f} ms each)")
    print(f"ratio             {rate / floor:8.2f}  (pass / baseline, median of {args.rounds})")

    runs = 2000
    started = time.perf_counter()
    for i in range(runs):
        signing.headers(secret, f"msg_{i}", 1_700_000_000, body)
    print(f"signature alone   {(time.perf_counter() - started) / runs * 1e6:8.1f} µs "
          f"({len(body)} B body)")

    endpoints = [endpoint]
    for _ in range(49):
        extra, _secret = services.create_endpoint(
            EndpointData(url=url, events=["story.published"]), actor=admin)
        endpoints.append(extra)
    db.session.commit()
    timings = []
    for n in range(5):
        started = time.perf_counter()
        services.record_deliveries(endpoints, "story.published", f"bench-fanout:{n}", data)
        db.session.commit()
        timings.append(time.perf_counter() - started)
    print(f"fan-out           {statistics.median(timings) * 1000:8.1f} ms to record one event "
          f"for {len(endpoints)} endpoints")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: SQLite temp)")
    args = parser.parse_args()

    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    with tempfile.TemporaryDirectory() as folder:
        database = args.database_url
        scratch = None
        if database:
            scratch = f"bench_webhooks_{uuid.uuid4().hex[:8]}"
            admin_engine = sa.create_engine(database.replace("postgresql://",
                                                             "postgresql+psycopg://", 1),
                                            isolation_level="AUTOCOMMIT")
            with admin_engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{scratch}"')
            database = database.rsplit("/", 1)[0] + "/" + scratch
        else:
            database = f"sqlite:///{folder}/bench.db"
        try:
            app = create_app("testing", SQLALCHEMY_DATABASE_URI=database, LOG_LEVEL="WARNING",
                             WEBHOOK_TIMEOUT_SECONDS=10)
            with app.app_context():
                upgrade(directory=str(ROOT / "migrations"))
                print(f"{'PostgreSQL' if args.database_url else 'SQLite'}, "
                      f"{args.deliveries} deliveries per round")
                _measure(args, url)
                db.session.remove()
                db.engine.dispose()
        finally:
            server.shutdown()
            if scratch:
                with admin_engine.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE "{scratch}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
