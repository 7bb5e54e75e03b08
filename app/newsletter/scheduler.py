"""`flask scheduler run`: the newsletter's own process (never inside gunicorn or the dev server).

A BlockingScheduler with two interval jobs instead of a weekly cron trigger: every tick reads the
schedule from the settings and the state from the database (app.newsletter.jobs), so an admin's
change applies at the next tick without a restart, daylight-saving time keeps the local send time,
and a run missed while the process was down is seen from the rows when it comes back.

* deliver (every SCHEDULER_DELIVER_SECONDS, default 15 s): "send now" is picked up within this.
* housekeeping (every SCHEDULER_HOUSEKEEPING_SECONDS, default 60 s): reminders and the nudge.
* mail outbox (every SCHEDULER_OUTBOX_SECONDS, default 10 s): notification emails recorded by
  `send_email_after_commit` that their process did not send (killed after the commit, mail
  server down, retries due), and pruning of old sent rows (app.mail.outbox).

Jobs never overlap themselves (max_instances=1, coalesced) but run beside each other, so a long
send does not hold back a reminder or an approval email. Running two schedulers by mistake is
harmless: claims are atomic and delivery and outbox rows are shared, never duplicated.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from app.extensions import db
from app.mail.outbox import run_outbox
from app.newsletter import jobs

log = logging.getLogger(__name__)

DEFAULT_DELIVER_SECONDS = 15
DEFAULT_HOUSEKEEPING_SECONDS = 60
DEFAULT_OUTBOX_SECONDS = 10


def _run_in_app(app: Flask, name: str, job: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        with app.app_context():
            try:
                job()
            except Exception:
                db.session.rollback()
                log.exception("scheduler job %s failed; it runs again at the next tick", name)
            finally:
                db.session.remove()

    return run


def _seconds(app: Flask, name: str, default: int) -> float:
    """app.config, else the environment variable of the same name, else `default`."""
    value = app.config.get(name)
    if value is None:
        value = os.environ.get(name) or default
    return float(value)


def build_scheduler(app: Flask, stop: threading.Event) -> BlockingScheduler:
    scheduler = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=3)}, timezone=UTC
    )
    # A tick that starts late is still wanted (there is no stale tick); never two at once.
    options = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    deliver_every = _seconds(app, "SCHEDULER_DELIVER_SECONDS", DEFAULT_DELIVER_SECONDS)
    housekeeping_every = _seconds(
        app, "SCHEDULER_HOUSEKEEPING_SECONDS", DEFAULT_HOUSEKEEPING_SECONDS
    )
    start = datetime.now(UTC)
    scheduler.add_job(
        _run_in_app(app, "deliver", lambda: jobs.deliver(should_stop=stop.is_set)),
        IntervalTrigger(seconds=deliver_every, start_date=start),
        id="deliver",
        name="Send due editions, resume and retry deliveries",
        next_run_time=start,
        **options,
    )
    scheduler.add_job(
        _run_in_app(app, "housekeeping", jobs.housekeeping),
        IntervalTrigger(seconds=housekeeping_every, start_date=start),
        id="housekeeping",
        name="Editor reminders and the weekly nudge",
        next_run_time=start,
        **options,
    )
    outbox_every = _seconds(app, "SCHEDULER_OUTBOX_SECONDS", DEFAULT_OUTBOX_SECONDS)
    scheduler.add_job(
        _run_in_app(app, "mail outbox", lambda: run_outbox(should_stop=stop.is_set)),
        IntervalTrigger(seconds=outbox_every, start_date=start),
        id="mail_outbox",
        name="Send notification emails left in the mail outbox, retry, prune old ones",
        next_run_time=start,
        **options,
    )
    return scheduler


def run(app: Flask) -> None:
    """Block until SIGINT/SIGTERM; a send in progress stops after its current batch."""
    stop = threading.Event()
    scheduler = build_scheduler(app, stop)

    def shutdown(signum: int, _frame: object) -> None:
        log.info("scheduler stopping (signal %s)", signum)
        stop.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    log.info("scheduler started: deliveries every %s s, reminders and nudge every %s s, "
             "mail outbox every %s s",
             *(job.trigger.interval.total_seconds() for job in scheduler.get_jobs()))
    scheduler.start()
