"""Writes for reading: applause (one per person per published story).

Setting the applause to an explicit state (rather than blindly flipping it) makes a double
click, a retried request or two tabs harmless: the second request finds the state already set.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.errors import NotFound
from app.extensions import db
from app.models import Reaction
from app.models import Story
from app.models import SubmissionStatus
from app.models import User


@dataclass(frozen=True, slots=True)
class ApplauseState:
    applauded: bool
    count: int


def _has_applauded(story_id: int, user: User) -> bool:
    return (
        db.session.scalar(
            sa.select(Reaction.id).where(Reaction.story_id == story_id, Reaction.user_id == user.id)
        )
        is not None
    )


def set_applause(story_id: int, user: User, applaud: bool | None = None) -> ApplauseState:
    """Applaud (True), take it back (False) or flip (None) `user`'s applause for a story.

    Raises NotFound unless the story is published. Adds to the current transaction; the caller
    commits.
    """
    published = db.session.scalar(
        sa.select(Story.id).where(Story.id == story_id, Story.status == SubmissionStatus.PUBLISHED)
    )
    if published is None:
        raise NotFound("Only published stories can be applauded.")
    if applaud is None:
        applaud = not _has_applauded(story_id, user)
    if applaud:
        try:
            with db.session.begin_nested():
                db.session.add(Reaction(story_id=story_id, user_id=user.id))
        except IntegrityError:
            pass  # already applauded (another tab or a concurrent click got there first)
    else:
        db.session.execute(
            sa.delete(Reaction).where(Reaction.story_id == story_id, Reaction.user_id == user.id)
        )
    count = db.session.scalar(
        sa.select(sa.func.count(Reaction.id)).where(Reaction.story_id == story_id)
    )
    return ApplauseState(applauded=applaud, count=count)
