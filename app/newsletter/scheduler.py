"""`flask scheduler run`: the newsletter's own process (never inside gunicorn or the dev server).

A BackgroundScheduler with interval jobs instead of a weekly cron trigger: every tick reads the
schedule from the settings and the state from the database (app.newsletter.jobs), so an admin's
change applies at the next tick without a restart, daylight-saving time keeps the local send time,
and a run missed while the process was down is seen from the rows when it comes back.

Every interval is a setting declared, with its default, in config.py:

* deliver (every SCHEDULER_DELIVER_SECONDS, default 15 s): "send now" is picked up within this.
* housekeeping (every SCHEDULER_HOUSEKEEPING_SECONDS, default 60 s): reminders and the nudge.
* mail outbox (every SCHEDULER_OUTBOX_SECONDS, default 10 s): notification emails recorded by
  `send_email_after_commit` that their process did not send (killed after the commit, mail
  server down, retries due), and pruning of old sent rows (app.mail.outbox).
* domain events (every SCHEDULER_EVENTS_SECONDS, default 10 s): events a process committed but
  did not dispatch (killed in between), subscribers whose retry is due, pruning (app.events).
* every job a feature registered in app.jobs (e.g. the applause emails, app.notifications).

Jobs never overlap themselves (max_instances=1, coalesced) but run beside each other, so a long
send does not hold back a reminder or an approval email. Running two schedulers by mistake is
harmless: claims are atomic and delivery and outbox rows are shared, never duplicated.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from functools import partial

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from app.events import run_events
from app.extensions import db
from app.jobs import registered_jobs
from app.mail.outbox import run_outbox
from app.newsletter import jobs
from app.signals import scheduler_job_finished
from app.signals import scheduler_started
from app.signals import scheduler_stopped

log = logging.getLogger(__name__)


def _run_in_app(app: Flask, name: str, job: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        with app.app_context():
            started, failed = time.monotonic(), False
            try:
                job()
            except Exception:
                failed = True
                db.session.rollback()
                log.exception("scheduler job %s failed; it runs again at the next tick", name)
            finally:
                db.session.remove()
                scheduler_job_finished.send(name, seconds=time.monotonic() - started,
                                            failed=failed)

    return run


def _seconds(app: Flask, name: str) -> float:
    """An interval from the configuration (config.py declares each, with its default)."""
    return float(app.config[name])


def build_scheduler(app: Flask, stop: threading.Event) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        # One thread per job: a long send never delays the others.
        executors={"default": ThreadPoolExecutor(max_workers=4 + len(registered_jobs()))},
        timezone=UTC,
    )
    # A tick that starts late is still wanted (there is no stale tick); never two at once.
    options = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    start = datetime.now(UTC)

    def add(job_id: str, label: str, job: Callable[[], object], every: str, name: str) -> None:
        scheduler.add_job(
            _run_in_app(app, label, job),
            IntervalTrigger(seconds=_seconds(app, every), start_date=start),
            id=job_id,
            name=name,
            next_run_time=start,
            **options,
        )

    add("deliver", "deliver", lambda: jobs.deliver(should_stop=stop.is_set),
        "SCHEDULER_DELIVER_SECONDS", "Send due editions, resume and retry deliveries")
    add("housekeeping", "housekeeping", jobs.housekeeping,
        "SCHEDULER_HOUSEKEEPING_SECONDS", "Editor reminders and the weekly nudge")
    add("mail_outbox", "mail outbox", lambda: run_outbox(should_stop=stop.is_set),
        "SCHEDULER_OUTBOX_SECONDS",
        "Send notification emails left in the mail outbox, retry, prune old ones")
    add("domain_events", "domain events", lambda: run_events(should_stop=stop.is_set),
        "SCHEDULER_EVENTS_SECONDS",
        "Dispatch domain events a process left behind, retry failed subscribers, prune")
    for job in registered_jobs():
        add(job.id, job.id, partial(job.run, stop.is_set), job.every, job.description)
    return scheduler


def run(app: Flask) -> None:
    """Block until SIGINT/SIGTERM; a send in progress stops after its current batch.

    The signal handler only raises a flag: stopping the scheduler (or even logging) inside it
    can deadlock on a lock the interrupted main thread holds (the executor's, mid-submit). The
    main thread polls the flag, then stops the scheduler and lets running jobs finish their batch.
    """
    stop = threading.Event()
    scheduler = build_scheduler(app, stop)
    requested: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        requested.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler.start()
    scheduler_id = f"{socket.gethostname()}:{os.getpid()}:{int(time.time())}"
    with app.app_context():
        scheduler_started.send(app, scheduler_id=scheduler_id)
    log.info("scheduler started: %s", ", ".join(
        f"{job.id} every {job.trigger.interval.total_seconds():g} s"
        for job in scheduler.get_jobs()))
    while not requested:
        time.sleep(0.2)
    log.info("scheduler stopping (signal %s)", requested[0])
    stop.set()
    scheduler.shutdown(wait=True)  # running jobs see `stop` and end after their current batch
    with app.app_context():
        scheduler_stopped.send(app, scheduler_id=scheduler_id)
