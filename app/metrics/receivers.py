"""Signal receivers: app.signals tells what happened, these count it (in the process it happened).

Connected once per process (blinker keeps one connection per receiver however many apps are
built). A receiver never raises: a metric must not change an outcome (app/signals.py).
"""

from __future__ import annotations

import logging
import time

from app.metrics import instruments as m
from app.signals import mail_answered
from app.signals import outbound_attempted
from app.signals import scheduler_job_finished

log = logging.getLogger(__name__)

_NOT_DELIVERED = frozenset({"deferred", "failed"})


def smtp_code(result: object) -> str:
    """The SMTP error label: the reply code, or "connection" when the session failed before any
    reply (refused, timeout, hang-up), or "none" when refused without a code."""
    code = getattr(result, "code", None)
    if code is not None:
        return str(code)
    return "connection" if getattr(result, "session", False) else "none"


def on_mail_answered(sender: str, *, result: object, **_: object) -> None:
    try:
        status = str(getattr(getattr(result, "status", None), "value", "unknown"))
        m.MAIL_ANSWERED.labels(sender, status).inc()
        if not getattr(result, "ok", False):
            m.SMTP_ERRORS.labels(sender, smtp_code(result)).inc()
    except Exception:  # pragma: no cover - a metric never breaks a send
        log.exception("metrics: mail_answered receiver failed")


def on_job_finished(sender: str, *, seconds: float, failed: bool, **_: object) -> None:
    try:
        m.JOB_RUNS.labels(sender).inc()
        m.JOB_DURATION.labels(sender).observe(seconds)
        if failed:
            m.JOB_FAILURES.labels(sender).inc()
        else:
            m.JOB_LAST_SUCCESS.labels(sender).set(time.time())
    except Exception:  # pragma: no cover
        log.exception("metrics: scheduler_job_finished receiver failed")


def on_outbound_attempted(sender: str, *, outcome: object, **_: object) -> None:
    try:
        name = str(getattr(outcome, "value", outcome))
        m.OUTBOUND_ATTEMPTS.labels(sender, name).inc()
        if name in _NOT_DELIVERED:
            m.OUTBOUND_FAILURES.labels(sender).inc()
    except Exception:  # pragma: no cover
        log.exception("metrics: outbound_attempted receiver failed")


def connect() -> None:
    mail_answered.connect(on_mail_answered, weak=False)
    scheduler_job_finished.connect(on_job_finished, weak=False)
    outbound_attempted.connect(on_outbound_attempted, weak=False)
