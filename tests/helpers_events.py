"""Child process for the domain-events crash test: finish an edition, die before dispatching.

Run as `python -m tests.helpers_events` with a JSON job in FGF_EVENTS_JOB ({"database_url",
"smtp_port", "edition_id"}). It finishes the edition through the real sending code (which emits
EditionSent and commits); a Session `after_commit` listener then SIGKILLs the process: the
edition is sent and its events committed, and the dispatch (which runs when the transaction
ends, after every after_commit listener) never starts.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.helpers_outbox import child_app
from tests.helpers_outbox import kill_after_commit

JOB_ENV = "FGF_EVENTS_JOB"


def _die_after_commit(session: Session) -> None:
    from app.events import COMMITTED_KEY
    from app.events import PENDING_KEY

    if session.info.get(PENDING_KEY) or session.info.get(COMMITTED_KEY):  # the edition's commit
        kill_after_commit(session)


def main() -> int:
    from app.extensions import db
    from app.models import Edition
    from app.newsletter.sending import finish_edition

    job: dict[str, Any] = json.loads(os.environ[JOB_ENV])
    with child_app(job).app_context():
        edition = db.session.get(Edition, job["edition_id"])
        event.listen(Session, "after_commit", _die_after_commit)
        print("FINISHING", flush=True)
        finish_edition(edition)
    print("NOT KILLED", flush=True)  # reached only if the listener did not fire
    return 3


if __name__ == "__main__":
    sys.exit(main())
