"""Metrics across real processes: gunicorn with two workers in multiprocess mode (the counts of
every worker, a replaced worker's included), and the scheduler's own metrics port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.metrics import ROOT
from tests.fixtures.metrics import Scrape
from tests.fixtures.metrics import app_environment
from tests.fixtures.metrics import free_port
from tests.fixtures.metrics import http_get
from tests.fixtures.metrics import running
from tests.fixtures.metrics import wait_for_http

pytestmark = pytest.mark.slow  # real gunicorn and scheduler processes
TIMEOUT = 60


def _scrape(port: int) -> Scrape:
    status, body = http_get(port, "/metrics")
    assert status == 200, body[:500]
    return Scrape(body)


def _healthz(port: int) -> int:
    return http_get(port, "/healthz", timeout=TIMEOUT)[0]  # waits for a worker still loading


def _worker_pids(directory: Path) -> set[int]:
    """The processes that wrote counters: prometheus_client names the files after the pid."""
    return {int(p.stem.rsplit("_", 1)[1]) for p in directory.glob("counter_*.db")}


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def _healthz_count(scrape: Scrape) -> float:
    return scrape.value("fgf_http_requests_total", endpoint="main.healthz", status="200")


def _spread(port: int, requests: int) -> None:
    """`requests` GET /healthz served by both sync workers. A request whose headers are held
    back keeps the worker that accepted it busy (connections are accepted in arrival order), so
    the others go to the other worker; then it is completed and that worker serves it too."""
    held = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        held.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for _ in range(requests - 1):
            assert _healthz(port) == 200
        held.sendall(b"Connection: close\r\n\r\n")
        reply = b""
        while chunk := held.recv(65536):
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    finally:
        held.close()


def test_gunicorn_workers_report_together_and_survive_a_restart(app, tmp_path):
    port = free_port()
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"left by an earlier run")  # emptied at start
    env = app_environment(app.config["SQLALCHEMY_DATABASE_URI"],
                          PROMETHEUS_MULTIPROC_DIR=str(directory))
    cmd = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--workers", "2",
           "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5", "wsgi:app"]
    with running(cmd, env, tmp_path / "gunicorn.log") as gunicorn:
        # Polled on /metrics: a poll that timed out while the workers loaded is served later, and
        # only /healthz is counted exactly below.
        wait_for_http(port, "/metrics", gunicorn)
        assert not (directory / "counter_999999.db").exists()
        _spread(port, 40)
        workers = _worker_pids(directory)
        assert len(workers) == 2 and workers == _children(gunicorn.pid)

        first = _scrape(port)
        # Every worker's count, whichever worker answers the scrape.
        assert _healthz_count(first) == 40
        assert _healthz_count(_scrape(port)) == 40

        # A worker dies; gunicorn replaces it. Its counts stay in the sum, nothing doubles.
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + TIMEOUT
        while len(_children(gunicorn.pid) - {victim}) < 2:
            assert gunicorn.poll() is None
            assert time.monotonic() < deadline, "gunicorn did not replace the worker"
            time.sleep(0.1)
        replacement = (_children(gunicorn.pid) - workers).pop()
        wait_for_http(port, "/metrics", gunicorn)
        _spread(port, 10)
        assert replacement in _worker_pids(directory)  # the new worker counted too
        after = _scrape(port)
        assert _healthz_count(after) == 50
        # No counter went down across the restart.
        for sample in first.samples:
            if sample.name.endswith("_total"):
                assert after.value(sample.name, **sample.labels) >= sample.value, sample
    assert gunicorn.returncode == 0, (tmp_path / "gunicorn.log").read_text()[-3000:]


def test_gunicorn_without_a_directory_makes_and_removes_its_own(app, tmp_path):
    port = free_port()
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = app_environment(app.config["SQLALCHEMY_DATABASE_URI"], TMPDIR=str(temporary))
    cmd = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--workers", "2",
           "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5", "wsgi:app"]
    with running(cmd, env, tmp_path / "gunicorn.log") as gunicorn:
        wait_for_http(port, "/healthz", gunicorn)
        made = list(temporary.glob("fgf-prometheus-*"))
        assert len(made) == 1 and list(made[0].glob("counter_*.db"))
        assert _healthz_count(_scrape(port)) >= 1
    assert gunicorn.returncode == 0, (tmp_path / "gunicorn.log").read_text()[-3000:]
    assert not made[0].exists()


def test_the_scheduler_serves_its_job_counters_on_its_own_port(app, tmp_path):
    port = free_port()
    env = app_environment(app.config["SQLALCHEMY_DATABASE_URI"],
                          SCHEDULER_METRICS_PORT=str(port), SCHEDULER_METRICS_HOST="127.0.0.1",
                          SCHEDULER_DELIVER_SECONDS="1", SCHEDULER_OUTBOX_SECONDS="1",
                          SCHEDULER_EVENTS_SECONDS="1", FLASK_APP="wsgi")
    cmd = [sys.executable, "-m", "flask", "scheduler", "run"]
    with running(cmd, env, tmp_path / "scheduler.log") as scheduler:
        wait_for_http(port, "/metrics", scheduler)
        deadline = time.monotonic() + TIMEOUT
        while True:
            scrape = _scrape(port)
            runs = {s.labels["job"]: s.value for s in scrape.samples
                    if s.name == "fgf_scheduler_job_runs_total"}
            if runs.get("deliver", 0) >= 2 and runs.get("mail outbox", 0) >= 2:
                break
            assert scheduler.poll() is None, (tmp_path / "scheduler.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"job counters did not move: {runs}"
            time.sleep(0.2)
        assert scrape.value("fgf_scheduler_job_failures_total") == 0
        assert scrape.value("fgf_scheduler_job_duration_seconds_count", job="deliver") >= 2
        assert scrape.value("fgf_scheduler_job_last_success_timestamp_seconds",
                            job="deliver") == pytest.approx(time.time(), abs=60)
        # The database gauges are the web's: scraping both never counts a delivery twice.
        assert not scrape.has("fgf_deliveries")
        assert not scrape.has("fgf_http_requests_total")
    assert scheduler.returncode == 0, (tmp_path / "scheduler.log").read_text()[-3000:]


def test_a_missing_multiprocess_directory_stops_the_app_at_start(app, tmp_path):
    env = app_environment(app.config["SQLALCHEMY_DATABASE_URI"],
                          PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "missing"))
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", "import wsgi"], env=env, cwd=ROOT, capture_output=True,
        text=True, timeout=TIMEOUT, check=False)
    assert result.returncode != 0
    assert "PROMETHEUS_MULTIPROC_DIR" in result.stderr and "is not a directory" in result.stderr
