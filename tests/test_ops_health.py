"""Liveness and readiness, the System status page and the editors' scheduler warning.

`/readyz` probes the database on a connection of its own and compares the schema's revision
with the code's head; the scheduler is reported but never makes it 503 (app.ops.readiness).
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import render_template

from app import create_app
from app.extensions import db
from app.models import SchedulerHeartbeat
from app.models import utcnow
from app.ops import services
from app.ops.notices import scheduler_warning
from app.ops.queries import scheduler_status
from app.ops.readiness import _scripts
from app.ops.readiness import code_heads


def _heartbeat(seconds_ago: float, pid: int = 4242, now=None) -> str:
    now = now or utcnow()
    scheduler_id = f"sched-host:{pid}:{int(now.timestamp()) - 3600}"
    services.beat(scheduler_id, now - timedelta(seconds=seconds_ago))
    db.session.commit()
    return scheduler_id


@pytest.fixture
def revision(app):
    """Set the database's alembic revision for a test, and put the real one back after it."""
    with db.engine.begin() as conn:
        real = list(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())

    def set_to(value: str) -> None:
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": value})

    yield set_to
    set_to(real[0])


# -- /healthz and /readyz ------------------------------------------------------------------------


def test_healthz_answers_without_the_database(app, client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}
    assert response.headers["X-Request-ID"]


def test_readyz_is_ready_with_a_migrated_database_and_says_no_scheduler_was_seen(app, client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "ready"
    database = body["checks"]["database"]
    assert database["ok"] is True and database["kind"] == db.engine.dialect.name
    assert database["revision"] == database["head"] == ", ".join(sorted(code_heads(app)))
    assert database["round_trip_ms"] >= 0
    assert body["checks"]["scheduler"] == {
        "ok": False, "processes": 0,
        "message": "no scheduler seen for 5 minutes (none has ever reported)"}
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers  # no session


def test_readyz_reports_a_live_scheduler_and_a_stale_one_without_going_503(app, client):
    _heartbeat(seconds_ago=12)
    scheduler = client.get("/readyz").json["checks"]["scheduler"]
    assert scheduler["ok"] is True and scheduler["processes"] == 1
    assert scheduler["message"] in ("seen 12 s ago", "seen 13 s ago")

    db.session.execute(sa.update(SchedulerHeartbeat).values(
        seen_at=utcnow() - timedelta(seconds=301)))
    db.session.commit()
    response = client.get("/readyz")
    assert response.status_code == 200  # web instances keep serving (app.ops.readiness)
    scheduler = response.json["checks"]["scheduler"]
    assert scheduler["ok"] is False and scheduler["processes"] == 0
    assert scheduler["message"].startswith("no scheduler seen for 5 minutes (last seen 30")


def test_readyz_is_503_while_migrations_are_pending_and_200_for_a_newer_schema(
        app, client, revision):
    [head] = code_heads(app)
    older = _scripts(app.extensions["migrate"].directory).get_revision(head).down_revision
    revision(older)  # the code was deployed, `flask db upgrade` not run yet
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["reason"] == "database: migrations pending: run flask db upgrade"
    assert response.headers["Cache-Control"] == "no-store"

    revision("9999_from_a_newer_release")  # `flask db upgrade` ran before this was restarted
    response = client.get("/readyz")
    assert response.status_code == 200
    assert "newer than this code" in response.json["checks"]["database"]["note"]


def _sqlite_app(path: Path):
    return create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")


@pytest.mark.parametrize("kind", ["missing file", "missing directory", "not a database"])
def test_readyz_is_503_when_the_sqlite_file_cannot_be_opened(tmp_path, kind):
    path = {"missing file": tmp_path / "gone.db",
            "missing directory": tmp_path / "no" / "such" / "dir" / "app.db",
            "not a database": tmp_path / "garbage.db"}[kind]
    if kind == "not a database":
        path.write_bytes(b"this is not SQLite " * 500)
    other = _sqlite_app(path)
    response = other.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["reason"] in ("database: cannot open the database file",
                                       "database: not a database file")
    assert str(tmp_path) not in response.get_data(as_text=True)  # no paths or URLs
    if kind == "missing file":
        assert not path.exists()  # the probe never creates an empty database


def test_readyz_is_503_for_an_empty_sqlite_database(tmp_path):
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    response = _sqlite_app(path).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["reason"] == (
        "database: migrations pending: run flask db upgrade (the database has no schema)")


# -- the scheduler's status ------------------------------------------------------------------------


def test_scheduler_status_decides_missing_from_the_stale_limit(app):
    now = utcnow()
    assert scheduler_status(now).missing
    _heartbeat(seconds_ago=0, pid=1, now=now)
    _heartbeat(seconds_ago=250, pid=2, now=now)
    status = scheduler_status(now)
    assert [p.pid for p in status.processes] == [1, 2] and not status.missing
    assert [p.pid for p in scheduler_status(now, stale_seconds=200).processes] == [1]
    later = now + timedelta(seconds=301)
    assert scheduler_status(later).missing
    assert scheduler_status(later).message == (
        "no scheduler seen for 5 minutes (last seen 301 s ago)")


def test_heartbeat_rows_are_created_touched_forgotten_and_pruned(app):
    now = utcnow()
    services.beat("host-a:10:1700000000", now - timedelta(days=2))
    services.beat("host-b:11:1700000000", now - timedelta(minutes=1))
    db.session.commit()
    row = services.beat("host-b:11:1700000000", now)
    db.session.commit()
    assert (row.hostname, row.pid, row.seen_at) == ("host-b", 11, now)
    assert row.started_at.timestamp() == 1700000000
    assert services.prune(now) == 1
    db.session.commit()
    assert db.session.scalars(sa.select(SchedulerHeartbeat.id)).all() == ["host-b:11:1700000000"]
    services.forget("host-b:11:1700000000")
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SchedulerHeartbeat)) == 0


# -- Admin → System status, the editors' warning ---------------------------------------------------


def test_system_page_shows_the_database_and_warns_when_no_scheduler_was_seen(app, admin_client):
    page = admin_client.get("/admin/system")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert db.engine.dialect.name in html and "(up to date)" in html
    assert "Round trip (SELECT 1)" in html
    assert "data-scheduler-missing" in html and "No scheduler is running" in html

    scheduler_id = _heartbeat(seconds_ago=3, pid=31337)
    html = admin_client.get("/admin/system").get_data(as_text=True)
    assert "data-scheduler-missing" not in html
    assert f'data-scheduler-process="{scheduler_id}"' in html and "31337" in html
    assert "sched-host" in html and "1 scheduler process running" in html


def test_system_page_is_for_admins_only(app, editor_client, employee_client):
    assert editor_client.get("/admin/system").status_code == 403
    assert employee_client.get("/admin/system").status_code == 403


def test_the_editors_warning_names_the_send_day_and_goes_away_with_a_heartbeat(app):
    with app.test_request_context("/editions/upcoming"):
        warning = scheduler_warning()
        assert warning is not None
        assert warning.message == "No scheduler is running: Friday's edition will not go out"
        html = render_template("ops/_scheduler_warning.html")
        assert "data-scheduler-warning" in html
        assert "No scheduler is running: Friday&#39;s edition will not go out" in html

    _heartbeat(seconds_ago=5)
    with app.test_request_context("/editions/upcoming"):
        assert scheduler_warning() is None
        assert "data-scheduler-warning" not in render_template("ops/_scheduler_warning.html")


def test_the_upcoming_edition_page_shows_the_warning_until_a_scheduler_beats(app, editor_client):
    html = editor_client.get("/editions/upcoming").get_data(as_text=True)
    assert "data-scheduler-warning" in html and "edition will not go out" in html
    _heartbeat(seconds_ago=5)
    html = editor_client.get("/editions/upcoming").get_data(as_text=True)
    assert "data-scheduler-warning" not in html
