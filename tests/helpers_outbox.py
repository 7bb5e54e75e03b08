"""Child process for the mail outbox crash test: commit a review decision, die before sending.

Run as `python -m tests.helpers_outbox` with a JSON job in FGF_OUTBOX_JOB ({"database_url",
"smtp_port", "story_id", "editor_id"}). It approves the story through the real review service
(which emits SubmissionApproved; a subscriber records the author's email after the commit) and
commits; a Session `after_commit` listener then SIGKILLs the process: the transaction is
committed, and the after-commit dispatch (which runs when the transaction ends, after every
after_commit listener) never starts.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

JOB_ENV = "FGF_OUTBOX_JOB"


def kill_after_commit(session: Session) -> None:
    """SIGKILL this process after the outermost commit (not a savepoint's release)."""
    if session.get_nested_transaction() is None:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def child_app(job: dict[str, Any]):
    """The app of a crash-test child: the test's database, mail to the test's SMTP server."""
    from app import create_app

    return create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=job["database_url"],
        MAIL_BACKEND="smtp",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=job["smtp_port"],
        MAIL_TIMEOUT=5,
    )


def main() -> int:
    from app.extensions import db
    from app.models import Story
    from app.models import User
    from app.review import services

    job: dict[str, Any] = json.loads(os.environ[JOB_ENV])
    with child_app(job).app_context():
        story = db.session.get(Story, job["story_id"])
        editor = db.session.get(User, job["editor_id"])
        services.approve(story, actor=editor, seen_version=story.version)
        event.listen(Session, "after_commit", kill_after_commit)
        print("COMMITTING", flush=True)
        db.session.commit()
    print("NOT KILLED", flush=True)  # reached only if the listener did not fire
    return 3


if __name__ == "__main__":
    sys.exit(main())
