"""The metrics this process counts itself (requests, mail answers, scheduler jobs, integrations).

Created once per process, at import, in prometheus_client's default registry. In multiprocess
mode (PROMETHEUS_MULTIPROC_DIR set before prometheus_client is first imported: gunicorn.conf.py
sets it) each process writes its values to files in that directory and /metrics sums them
(app.metrics.exposition); a gauge then says how processes combine (`multiprocess_mode`).

Labels are bounded on purpose: a Flask endpoint name (never the raw path), a method from a short
list, a status code, a job's name, a channel, an SMTP reply code. Values computed from the
database at scrape time live in app.metrics.collector instead, so every process agrees.
"""

from __future__ import annotations

from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram
from prometheus_client import values

# prometheus_client chose its value class when it was imported: files (multiprocess) or memory.
MULTIPROCESS = values.ValueClass is not values.MutexValue

HTTP_REQUESTS = Counter(
    "fgf_http_requests", "HTTP requests answered, by Flask endpoint, method and status code.",
    ["endpoint", "method", "status"])
HTTP_DURATION = Histogram(
    "fgf_http_request_duration_seconds",
    "Time from the request's first hook to its response, by Flask endpoint.", ["endpoint"])

MAIL_ANSWERED = Counter(
    "fgf_mail_answered",
    "Messages the mail server answered (or failed to), by kind (edition, notification) and "
    "outcome (sent, transient, permanent).", ["kind", "status"])
SMTP_ERRORS = Counter(
    "fgf_smtp_errors",
    "Messages the mail server did not accept, by kind and SMTP reply code (\"connection\": no "
    "reply, the connection failed; \"none\": refused without a code).", ["kind", "code"])

JOB_RUNS = Counter("fgf_scheduler_job_runs", "Scheduler job ticks finished, by job.", ["job"])
JOB_FAILURES = Counter(
    "fgf_scheduler_job_failures", "Scheduler job ticks that raised, by job.", ["job"])
JOB_DURATION = Histogram(
    "fgf_scheduler_job_duration_seconds", "How long a scheduler job's tick took, by job.",
    ["job"], buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600))
JOB_LAST_SUCCESS = Gauge(
    "fgf_scheduler_job_last_success_timestamp_seconds",
    "When a scheduler job's tick last ended without an error (Unix time), by job.", ["job"],
    multiprocess_mode="max")

OUTBOUND_ATTEMPTS = Counter(
    "fgf_outbound_attempts",
    "Outgoing integration attempts (chat posts, webhook deliveries), by channel and outcome "
    "(done, deferred, failed, lost).", ["channel", "outcome"])
OUTBOUND_FAILURES = Counter(
    "fgf_outbound_failures",
    "Outgoing integration attempts that did not deliver (deferred or failed), by channel.",
    ["channel"])
