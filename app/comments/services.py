"""Writes for comments: post one on a published story, remove one.

Comments are plain text: stored as typed (through `clean_text`) and escaped wherever they are
shown, never rendered as Markdown or HTML. Posting emits `CommentPosted`; the notifications
feature tells the story's author and the colleagues it names, after the commit.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from app import audit
from app.auth.access import is_curator
from app.errors import NotFound
from app.errors import PermissionDenied
from app.errors import ValidationError
from app.events import CommentPosted
from app.events import emit
from app.extensions import db
from app.models import Comment
from app.models import Story
from app.models import SubmissionStatus
from app.models import User
from app.models import utcnow
from app.text import clean_text

MAX_LENGTH = 500
FIELD = "comment"  # the form field the messages belong to
_BLANK_LINES_RE = re.compile(r"\n{3,}")


class CommentError(ValidationError):
    """A comment the rules refuse; `field` puts the message on the form's comment box."""

    field = FIELD


def clean_comment(text: str | None) -> str:
    """The comment as stored: control characters gone, at most one blank line in a row.

    Raises CommentError when nothing is left or it is longer than MAX_LENGTH characters.
    """
    body = _BLANK_LINES_RE.sub("\n\n", clean_text(text, multiline=True)).strip()
    if not body:
        raise CommentError("Write something before posting.")
    if len(body) > MAX_LENGTH:
        raise CommentError(
            f"Keep comments to {MAX_LENGTH} characters; this one has {len(body):,}. "
            "Shorten it and post again."
        )
    return body


def post_comment(story_id: int, author: User, text: str | None) -> Comment:
    """Add `author`'s comment to a published story; the caller commits.

    The same text twice in a row from the same person (a double click, a resent form) is
    refused. The story's row is locked first (PostgreSQL; SQLite writers take turns anyway), so
    two copies sent at once are checked one after the other.
    """
    published = db.session.scalar(
        sa.select(Story.id)
        .where(Story.id == story_id, Story.status == SubmissionStatus.PUBLISHED)
        .with_for_update(key_share=True)
    )
    if published is None:
        raise NotFound("Only published stories can have comments.")
    if not author.is_active_user:
        raise PermissionDenied("Deactivated accounts cannot comment.")
    body = clean_comment(text)
    last = db.session.scalar(
        sa.select(Comment.body)
        .where(
            Comment.story_id == story_id,
            Comment.author_id == author.id,
            Comment.removed_at.is_(None),
        )
        .order_by(Comment.id.desc())
        .limit(1)
    )
    if last == body:
        raise CommentError("You already posted this comment.")
    comment = Comment(story_id=story_id, author_id=author.id, body=body, created_at=utcnow())
    db.session.add(comment)
    db.session.flush()
    emit(CommentPosted(comment_id=comment.id, story_id=story_id, author_id=author.id))
    return comment


def may_remove(user: User, comment_author_id: int, story_author_id: int) -> bool:
    """The one rule: the comment's writer, the story's author, and active editors and admins."""
    return user.id in (comment_author_id, story_author_id) or is_curator(user)


def require_may_remove(user: User, comment: Comment) -> None:
    if not may_remove(user, comment.author_id, comment.story.author_id):
        raise PermissionDenied(
            "Only the person who wrote this comment, the story’s author and editors can "
            "remove it."
        )


def remove_comment(comment: Comment, actor: User) -> bool:
    """Take a comment off the story (kept, marked removed, audited); the caller commits.

    False when it was already removed (a second click), which changes nothing.
    """
    require_may_remove(actor, comment)
    if comment.is_removed:
        return False
    comment.removed_at = utcnow()
    comment.removed_by_id = actor.id
    if actor.id == comment.author_id:
        role = "writer"
    elif actor.id == comment.story.author_id:
        role = "story_author"
    else:
        role = "editor"
    audit.record(actor, "comment.removed", comment, story_id=comment.story_id,
                 author_id=comment.author_id, removed_as=role)
    return True
