"""gunicorn's settings for production: `gunicorn -c gunicorn.conf.py wsgi:app`.

Every value can be overridden from the environment (GUNICORN_* below) or the command line.
See docs/deployment.md for the layout this belongs to (a TLS proxy in front, the scheduler as a
service of its own).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Behind a proxy on the same host: trust its X-Forwarded-Proto (https links and cookies).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = None  # the app logs each request itself (JSON, with its request id)
errorlog = "-"
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = 50
# gunicorn 25.1+: the `gunicornc` control socket; every instance on a host needs its own path
# (the default, ~/.gunicorn/gunicorn.ctl, is shared, and hidden under systemd's ProtectHome).
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

# Prometheus multiprocess mode (app/metrics): each worker writes its counters to files in
# PROMETHEUS_MULTIPROC_DIR and /metrics sums them, whichever worker answers the scrape. The
# variable must be set before prometheus_client is imported, so here, in the master, before any
# worker loads the app. Without one, each gunicorn master gets a private temporary directory (two
# instances on one host must never share one); a directory an operator sets is emptied at start,
# since files left by a previous run would be summed with this one's.
_metrics_dir_is_ours = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _metrics_dir_is_ours:
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="fgf-prometheus-")


def on_starting(server):
    """Empty the metrics directory: a restart starts counting from zero, as Prometheus expects."""
    from pathlib import Path

    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for leftover in directory.glob("*.db"):
        leftover.unlink()


def child_exit(server, worker):
    """A worker died or was replaced: its live gauges go; its counters stay summed."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the temporary metrics directory this master made (an operator's one stays)."""
    if _metrics_dir_is_ours:
        import shutil

        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
