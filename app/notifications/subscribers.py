"""What the notifications feature does when something happens (collected by
`register_subscribers` in the app factory): each subscriber runs once per event, after the
commit that caused it, in its own transaction (app/events.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from sqlalchemy.orm import selectinload

from app.events import ChangesRequested
from app.events import CommentPosted
from app.events import EditionDueSoon
from app.events import EditionMissed
from app.events import EditionSent
from app.events import SubmissionApproved
from app.events import SubmissionRejected
from app.events import subscribe
from app.extensions import db
from app.jobs import scheduled
from app.models import Comment
from app.models import Edition
from app.models import Quote
from app.models import Recognition
from app.models import Role
from app.models import Story
from app.models import User
from app.notifications import messages
from app.notifications.applause import run_applause
from app.notifications.managers import notify_managers
from app.notifications.publication import notify_edition_sent


def _item(kind: str, item_id: int) -> Story | Quote | None:
    return db.session.get(Story if kind == "story" else Quote, item_id)


@subscribe(SubmissionApproved)
def tell_author_approved(event: SubmissionApproved) -> None:
    item = _item(event.item_kind, event.item_id)
    if item is not None:
        messages.notify_approved(item)


@subscribe(ChangesRequested)
def tell_author_changes_requested(event: ChangesRequested) -> None:
    item = _item(event.item_kind, event.item_id)
    if item is not None:
        messages.notify_changes_requested(item, event.note)


@subscribe(SubmissionRejected)
def tell_author_rejected(event: SubmissionRejected) -> None:
    item = _item(event.item_kind, event.item_id)
    if item is not None:
        messages.notify_rejected(item, event.reason)


@subscribe(EditionSent)
def tell_authors_and_colleagues(event: EditionSent) -> None:
    notify_edition_sent(event.edition_id, event.story_ids, event.quote_ids)


@subscribe(EditionSent)
def tell_managers(event: EditionSent) -> None:
    """One email per manager for the edition, naming everyone they manage that it features; a
    subscriber of its own, so a failure here is retried without re-telling the authors."""
    notify_managers(event.edition_id, event.story_ids)


@subscribe(CommentPosted)
def tell_story_people_about_comment(event: CommentPosted) -> None:
    """The story's author and the colleagues it names (with accounts), once each; never the
    commenter, and nobody when the comment was removed before this ran."""
    comment = db.session.get(Comment, event.comment_id, options=[
        joinedload(Comment.author),
        joinedload(Comment.story).options(
            joinedload(Story.author),
            selectinload(Story.recognitions).joinedload(Recognition.user),
        ),
    ])  # fmt: skip
    if comment is None or comment.is_removed:
        return
    story = comment.story
    told = {comment.author_id}
    if story.author_id not in told:
        told.add(story.author_id)
        messages.notify_comment(story.author, comment, is_author=True)
    for recognition in story.recognitions:
        user = recognition.user
        if user is not None and user.id not in told:
            told.add(user.id)
            messages.notify_comment(user, comment, is_author=False)


def _editors() -> list[User]:
    return list(db.session.scalars(
        sa.select(User)
        .where(User.role.in_((Role.EDITOR, Role.ADMIN)), User.is_active_user.is_(True))
        .order_by(User.id)
    ))  # fmt: skip


def _each_editor(edition_id: int, tell: Callable[[User, Edition], object]) -> None:
    edition = db.session.get(Edition, edition_id)
    if edition is not None:
        for editor in _editors():
            tell(editor, edition)


@subscribe(EditionDueSoon)
def remind_editors(event: EditionDueSoon) -> None:
    due_at = datetime.fromisoformat(event.due_at)
    _each_editor(event.edition_id, lambda editor, edition: messages.notify_edition_due_soon(
        editor, edition, due_at, waiting=event.waiting, items=event.items))


@subscribe(EditionMissed)
def tell_editors_missed(event: EditionMissed) -> None:
    due_at, now = datetime.fromisoformat(event.due_at), datetime.fromisoformat(event.noticed_at)
    _each_editor(event.edition_id, lambda editor, edition: messages.notify_edition_missed(
        editor, edition, due_at, now))


@scheduled("applause", "Applause emails to authors (at most one per story per day)",
           every="SCHEDULER_APPLAUSE_SECONDS")
def applause_job(should_stop: Callable[[], bool]) -> int:
    return run_applause()
