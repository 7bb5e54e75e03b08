"""Reads for the story page's people parts: its comments, who applauded it, and whether a
person's account is active (the person page's "Recognize" button).

Each is one query whatever the number of rows. Comments are read fresh on every page: they are
not part of the reading cache's content version (app/reading/cache.py), so a new comment shows
at once. Applauders and people are, so the reading views may remember those.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.models import Comment
from app.models import Reaction
from app.models import User

SHOWN = 20  # the newest comments a story page shows until "Show all" is asked for


@dataclass(frozen=True, slots=True)
class CommentView:
    id: int
    body: str
    created_at: datetime
    author_id: int
    author_name: str
    author_photo: str | None = None


@dataclass(frozen=True, slots=True)
class Thread:
    """A story's comments, oldest first; `total` counts them all, shown or not."""

    comments: list[CommentView]
    total: int

    @property
    def hidden(self) -> int:
        return self.total - len(self.comments)


@dataclass(frozen=True, slots=True)
class Applauder:
    name: str
    user_id: int


def _visible(story_id: int) -> sa.ColumnElement[bool]:
    return sa.and_(Comment.story_id == story_id, Comment.removed_at.is_(None))


def story_comments(story_id: int, *, everything: bool = False) -> Thread:
    """The newest SHOWN comments (all of them with `everything`), newest last, with the total."""
    total = sa.select(sa.func.count(Comment.id)).where(_visible(story_id)).scalar_subquery()
    stmt = (
        sa.select(
            Comment.id, Comment.body, Comment.created_at, Comment.author_id,
            User.display_name, total.label("total"), User.photo_key,
        )  # fmt: skip
        .join(User, User.id == Comment.author_id)
        .where(_visible(story_id))
        .order_by(Comment.id.desc())
    )
    if not everything:
        stmt = stmt.limit(SHOWN)
    rows = db.session.execute(stmt).all()
    comments = [CommentView(*row[:5], author_photo=row.photo_key) for row in reversed(rows)]
    return Thread(comments=comments, total=rows[0].total if rows else 0)


def applauders(story_id: int) -> list[Applauder]:
    """Everyone who applauded a story, the latest first."""
    rows = db.session.execute(
        sa.select(User.display_name, User.id)
        .join(Reaction, Reaction.user_id == User.id)
        .where(Reaction.story_id == story_id)
        .order_by(Reaction.created_at.desc(), Reaction.id.desc())
    )
    return [Applauder(*row) for row in rows]


def is_active_person(user_id: int) -> bool:
    """Whether `user_id` is an active account (False for an unknown id)."""
    active = db.session.scalar(sa.select(User.is_active_user).where(User.id == user_id))
    return bool(active)
