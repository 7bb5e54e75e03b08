"""The scheduler's heartbeat: the receivers and the job in this process, then a real
`flask scheduler run` process that writes its row, removes it when stopped, and leaves it to go
stale when killed, which readiness and Admin → System status then say."""

from __future__ import annotations

import json
import signal
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import SchedulerHeartbeat
from app.models import utcnow
from app.ops import subscribers
from app.signals import scheduler_started
from app.signals import scheduler_stopped


def _rows() -> list[SchedulerHeartbeat]:
    db.session.rollback()  # see what the other process committed
    return list(db.session.scalars(sa.select(SchedulerHeartbeat)))


def _wait_for(condition, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_start_beat_and_stop_in_this_process(app):
    scheduler_id = "this-host:777:1700000000"
    scheduler_started.send(app, scheduler_id=scheduler_id)
    [row] = _rows()
    assert (row.id, row.hostname, row.pid) == (scheduler_id, "this-host", 777)
    first = row.seen_at
    assert subscribers.heartbeat_job(lambda: False) is True
    [row] = _rows()
    assert row.seen_at >= first
    scheduler_stopped.send(app, scheduler_id=scheduler_id)
    assert _rows() == []
    assert subscribers.heartbeat_job(lambda: False) is False  # no running scheduler: no row


def test_the_job_prunes_rows_of_processes_gone_for_a_day(app):
    from app.ops import services

    services.beat("gone:1:1600000000", utcnow() - timedelta(days=1, minutes=1))
    db.session.commit()
    scheduler_started.send(app, scheduler_id="alive:2:1700000000")
    try:
        subscribers.heartbeat_job(lambda: False)
        assert [r.id for r in _rows()] == ["alive:2:1700000000"]
    finally:
        scheduler_stopped.send(app, scheduler_id="alive:2:1700000000")


@pytest.mark.slow  # a real scheduler process
def test_a_scheduler_process_beats_and_removes_its_row_when_stopped(app, start_scheduler):
    process = start_scheduler()
    [row] = _wait_for(_rows, "the first heartbeat")
    assert row.pid == process.pid
    first = row.seen_at
    _wait_for(lambda: _rows() and _rows()[0].seen_at > first, "a second heartbeat")

    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err[-3000:]
    assert _rows() == []
    # Its logs are JSON lines too (LOG_FORMAT=json), without a request id.
    entries = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert any(e["msg"].startswith("scheduler stopping") for e in entries)
    assert all(e["request_id"] is None for e in entries)


@pytest.mark.slow  # a real scheduler process, killed
def test_a_killed_scheduler_goes_stale_and_readiness_and_the_admin_page_say_so(
        app, start_scheduler, client, admin_client):
    process = start_scheduler()
    [row] = _wait_for(_rows, "the first heartbeat")
    scheduler = client.get("/readyz").json["checks"]["scheduler"]
    assert scheduler["ok"] is True and scheduler["processes"] == 1
    assert "data-scheduler-running" in admin_client.get("/admin/system").get_data(as_text=True)

    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert [r.id for r in _rows()] == [row.id]  # a crash leaves the row behind
    app.config["SCHEDULER_STALE_SECONDS"] = 2

    def stale() -> dict | None:
        response = client.get("/readyz")
        assert response.status_code == 200  # a missing scheduler never makes it 503
        checks = response.json["checks"]["scheduler"]
        return checks if not checks["ok"] else None

    scheduler = _wait_for(stale, "the heartbeat to go stale")
    assert scheduler["message"].startswith("no scheduler seen for 2 seconds (last seen")
    html = admin_client.get("/admin/system").get_data(as_text=True)
    assert "data-scheduler-missing" in html and "No scheduler is running" in html
