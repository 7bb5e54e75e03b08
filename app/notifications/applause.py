"""The "someone applauded my story" email: at most one per story per day, naming who applauded
since the last one.

Applause is frequent and bursty, so it is not announced one reaction at a time: a periodic job
reads the `reactions` rows themselves. For each published story with applause newer than its
`applause_notices` mark, and no email in the last APPLAUSE_EMAIL_HOURS, the author gets one
email naming the new applauders; the mark (last reaction told, when) moves in the same
transaction as the email's outbox row, so a story's applause is told once. Applause that was
taken back before the email is not mentioned; the author's own applause never is.
"""

from __future__ import annotations

import logging
from datetime import datetime
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app.database import begin_write
from app.extensions import db
from app.models import ApplauseNotice
from app.models import Reaction
from app.models import Story
from app.models import SubmissionStatus
from app.models import User
from app.models import utcnow
from app.notifications.messages import notify_applause

log = logging.getLogger(__name__)



def _window() -> timedelta:
    return timedelta(hours=current_app.config["APPLAUSE_EMAIL_HOURS"])


def run_applause(now: datetime | None = None) -> int:
    """Email the authors whose stories have untold applause and whose last email is old
    enough; returns the number of stories told about."""
    now = now or utcnow()
    notice = ApplauseNotice.__table__
    since = sa.func.coalesce(notice.c.last_reaction_id, 0)
    story_ids = list(db.session.scalars(
        sa.select(Reaction.story_id)
        .join(Story, Story.id == Reaction.story_id)
        .outerjoin(notice, notice.c.story_id == Reaction.story_id)
        .where(
            Story.status == SubmissionStatus.PUBLISHED,
            Reaction.user_id != Story.author_id,
            Reaction.id > since,
            sa.or_(notice.c.notified_at.is_(None), notice.c.notified_at <= now - _window()),
        )
        .group_by(Reaction.story_id)
        .order_by(Reaction.story_id)
    ))
    db.session.commit()
    told = 0
    for story_id in story_ids:
        try:
            told += _tell(story_id, now)
        except Exception:
            db.session.rollback()
            log.exception("applause email for story %s failed; the next run tries again",
                          story_id)
    return told


def _tell(story_id: int, now: datetime) -> bool:
    """One story, one transaction: the email (if the author wants it) and the new mark."""
    begin_write()
    mark = db.session.scalar(
        sa.select(ApplauseNotice).where(ApplauseNotice.story_id == story_id).with_for_update()
    )
    if mark is not None and mark.notified_at is not None and mark.notified_at > now - _window():
        db.session.rollback()
        return False
    story = db.session.get(Story, story_id)
    if story is None:
        db.session.rollback()
        return False
    new = db.session.execute(
        sa.select(Reaction.id, User.display_name)
        .join(User, User.id == Reaction.user_id)
        .where(Reaction.story_id == story_id, Reaction.user_id != story.author_id,
               Reaction.id > (mark.last_reaction_id if mark else 0))
        .order_by(Reaction.id)
    ).all()
    if not new:
        db.session.rollback()
        return False
    total = db.session.scalar(
        sa.select(sa.func.count(Reaction.id)).where(Reaction.story_id == story_id)
    ) or 0
    notify_applause(story, [name for _id, name in new], total)
    if mark is None:
        mark = ApplauseNotice(story_id=story_id)
        db.session.add(mark)
    mark.last_reaction_id = new[-1].id
    mark.notified_at = now
    db.session.commit()
    return True
