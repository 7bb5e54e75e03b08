"""The scheduler's heartbeat: written when `flask scheduler run` starts, every
SCHEDULER_HEARTBEAT_SECONDS after that ("heartbeat" job), and deleted when it stops.

The job does not know its process's id; the `scheduler_started` signal (sent once per process
by app.newsletter.scheduler.run) hands it over, and `scheduler_stopped` takes it back. Until the
first signal the job has nothing to write (the process is not a running scheduler yet). A
receiver must not raise: a database that is down at start only delays the first beat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask

from app.extensions import db
from app.jobs import scheduled
from app.models import utcnow
from app.ops import services
from app.signals import scheduler_started
from app.signals import scheduler_stopped

log = logging.getLogger(__name__)

_current: dict[str, str] = {}  # "id" -> this process's scheduler id while it runs


@scheduled("heartbeat", "Tell readiness and the editors this scheduler is alive",
           every="SCHEDULER_HEARTBEAT_SECONDS")
def heartbeat_job(should_stop: Callable[[], bool]) -> bool:
    """Touch this process's row and prune rows of processes gone for a day."""
    scheduler_id = _current.get("id")
    if scheduler_id is None or should_stop():
        return False
    now = utcnow()
    services.beat(scheduler_id, now)
    services.prune(now)
    db.session.commit()
    return True


def on_started(_app: Flask, scheduler_id: str, **_extra: object) -> None:
    try:
        services.beat(scheduler_id, utcnow())
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("scheduler heartbeat: the first beat failed; the job tries again")
    # Only now: the job's first tick may run beside this, and two first beats would both insert.
    _current["id"] = scheduler_id


def on_stopped(_app: Flask, scheduler_id: str, **_extra: object) -> None:
    _current.pop("id", None)
    try:
        services.forget(scheduler_id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("scheduler heartbeat: the row was not removed; it goes stale by itself")


scheduler_started.connect(on_started)
scheduler_stopped.connect(on_stopped)
