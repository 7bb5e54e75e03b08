"""The scheduler process's own metrics port: `flask scheduler run` with SCHEDULER_METRICS_PORT.

The scheduler is a separate process (often on another host), so the web's /metrics cannot see
its job counters. It serves them itself: prometheus_client's HTTP server, started when the
scheduler starts (app.signals.scheduler_started), on SCHEDULER_METRICS_HOST:PORT (loopback by
default; no token, so bind it where only Prometheus reaches it). Not pushed: a Pushgateway is
one more service to run and keeps a dead process's last values forever; a port is scraped like
anything else and goes silent when the process dies (alert on `up == 0`).

It serves this process's registry only: the database gauges stay on the web's /metrics, so
scraping both counts nothing twice. Give the scheduler no PROMETHEUS_MULTIPROC_DIR (or not the
web's): the web would otherwise sum the scheduler's files with its workers'.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask
from prometheus_client import REGISTRY
from prometheus_client import start_http_server

from app.metrics.instruments import MULTIPROCESS
from app.signals import scheduler_started
from app.signals import scheduler_stopped

log = logging.getLogger(__name__)

_lock = threading.Lock()
_server: Any = None  # (WSGIServer, Thread) while serving


def start(app: Flask, **_: object) -> None:
    """Serve this process's metrics if SCHEDULER_METRICS_PORT is set (once per process)."""
    global _server
    port = int(app.config.get("SCHEDULER_METRICS_PORT") or 0)
    if not port:
        return
    host = app.config.get("SCHEDULER_METRICS_HOST") or "127.0.0.1"
    if MULTIPROCESS:  # prometheus_client writes to PROMETHEUS_MULTIPROC_DIR in this process
        log.warning("PROMETHEUS_MULTIPROC_DIR is set for the scheduler: if gunicorn uses the "
                    "same directory, the web's /metrics counts the scheduler's jobs too")
    with _lock:
        if _server is not None:
            return
        try:
            _server = start_http_server(port, addr=host, registry=REGISTRY)
        except OSError as exc:  # a signal receiver never raises: the jobs matter more
            log.error("scheduler metrics port %s:%s unavailable (%s); running without it",
                      host, port, exc)
            return
    log.info("scheduler metrics on http://%s:%s/metrics", host, port)


def stop(app: Flask, **_: object) -> None:
    global _server
    with _lock:
        server, _server = _server, None
    if server is not None:
        server[0].shutdown()
        server[0].server_close()


def connect() -> None:
    scheduler_started.connect(start, weak=False)
    scheduler_stopped.connect(stop, weak=False)
