"""Newsletter test helpers: data seeding, and sender subprocesses for crash and concurrency tests.

Run as `python -m tests.helpers_sender run|scheduler` with a JSON job in the FGF_SENDER_JOB
environment variable ({"database_url", "smtp_port", "edition_id", "batch_size", "start_at",
"worker_id"}): it builds an app on that database, points mail at the SMTP port and runs the
same `run_edition` as the scheduler (or the scheduler process itself). `start_at` (epoch
seconds) lets two processes start together.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from app.extensions import db
from app.models import Edition
from app.models import EditionStatus
from app.models import Role
from app.models import Story
from app.models import SubmissionStatus
from app.models import User
from tests import factories

JOB_ENV = "FGF_SENDER_JOB"
ROOT = Path(__file__).resolve().parent.parent


def seed_recipients(count: int, *, prefix: str = "staff") -> list[User]:
    """`count` employees with distinct names and addresses (bulk, fast)."""
    users = [
        User(
            email=f"{prefix}{i}@example.com",
            display_name=f"Person{i} {prefix.capitalize()}",
            role=Role.EMPLOYEE,
        )
        for i in range(count)
    ]
    db.session.add_all(users)
    db.session.flush()
    return users


def seed_edition(
    *,
    status: EditionStatus = EditionStatus.SCHEDULED,
    recipients: int = 0,
    with_items: bool = True,
    **kwargs: Any,
) -> Edition:
    """An edition with an approved story (two colleagues recognized) and an approved quote."""
    items: list = []
    if with_items:
        author = factories.make_user(display_name="Priya Raman", email="priya@example.com")
        noah = factories.make_user(display_name="Noah Levi", email="noah@example.com")
        amina = factories.make_user(display_name="Amina Diallo", email="amina@example.com")
        story = factories.make_story(
            author,
            status=SubmissionStatus.APPROVED,
            title="A late-night call that saved a family holiday",
            body="Noah stayed on the line.\n\n> \"I expected a script.\"\n\n"
            "See [our process](https://example.com/process).",
            colleagues=[noah, amina],
            customer_segment="retail banking",
        )
        quote = factories.make_quote(
            author, status=SubmissionStatus.APPROVED, text="You made my week.", nps_score=10
        )
        items = [story, quote]
    if recipients:
        seed_recipients(recipients)
    kwargs.setdefault("subject", "A holiday saved")
    return factories.make_edition(status=status, items=items, **kwargs)


def story_of(edition: Edition) -> Story:
    return next(i.story for i in edition.items if i.story is not None)


def sender_job(**job: Any) -> dict[str, str]:
    """Environment for a sender subprocess."""
    env = dict(os.environ)
    env[JOB_ENV] = json.dumps(job)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _app(job: dict[str, Any]):
    from app import create_app

    return create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=job["database_url"],
        MAIL_BACKEND="smtp",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=job["smtp_port"],
        MAIL_TIMEOUT=5,
        NEWSLETTER_BATCH_SIZE=job.get("batch_size", 10),
        NEWSLETTER_CLAIM_TIMEOUT_SECONDS=job.get("claim_timeout", 300),
        SCHEDULER_DELIVER_SECONDS=job.get("deliver_seconds", 15),
    )


def _run() -> int:
    from app.newsletter import sending

    job = json.loads(os.environ[JOB_ENV])
    app = _app(job)
    with app.app_context():
        start_at = job.get("start_at")
        if start_at:
            time.sleep(max(0.0, start_at - time.time()))
        print("STARTED", flush=True)
        result = sending.run_edition(job["edition_id"], worker_id=job.get("worker_id"))
        print(
            json.dumps({"claimed": result.claimed, "sent": result.stats.sent,
                        "finished": result.finished}),
            flush=True,
        )
        db.engine.dispose()
    return 0


def _scheduler() -> int:
    """The real scheduler process (app.newsletter.scheduler.run) on the test's database."""
    import logging

    from app.newsletter import scheduler

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    scheduler.run(_app(json.loads(os.environ[JOB_ENV])))
    return 0


if __name__ == "__main__":
    commands = {"run": _run, "scheduler": _scheduler}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit("usage: python -m tests.helpers_sender run|scheduler  (job in $FGF_SENDER_JOB)")
    sys.exit(commands[sys.argv[1]]())
