"""The issue's done-when: "/readyz goes 503 when PostgreSQL is stopped and back to 200 when it
starts", on a PostgreSQL server of the test's own (tests/fixtures/ops.py), never the shared one."""

from __future__ import annotations

import time

import pytest
from flask_migrate import upgrade

from app import create_app
from app.extensions import db
from app.ops.readiness import PROBE_TIMEOUT_SECONDS


@pytest.mark.slow  # initdb, a PostgreSQL server started and stopped
def test_readyz_follows_a_postgresql_server_that_stops_and_starts(private_postgres):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=private_postgres.url)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    client = app.test_client()
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.json
        assert ready.json["checks"]["database"]["kind"] == "postgresql"

        private_postgres.stop()
        started = time.monotonic()
        down = client.get("/readyz")
        assert time.monotonic() - started < PROBE_TIMEOUT_SECONDS + 2  # bounded, never hangs
        assert down.status_code == 503
        assert down.json == {"status": "unavailable", "reason": "database: connection refused",
                             "checks": {"database": {"ok": False, "kind": "postgresql",
                                                     "reason": "connection refused",
                                                     "head": down.json["checks"]["database"]
                                                     ["head"]}}}
        assert str(private_postgres.port) not in down.get_data(as_text=True)  # no address
        assert client.get("/healthz").status_code == 200  # liveness does not care

        private_postgres.start()
        deadline = time.monotonic() + 30
        while (back := client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, back.json
            time.sleep(0.2)
        assert back.json["status"] == "ready"
    finally:
        with app.app_context():
            db.engine.dispose()
