"""Telling people about an edition that went out: its authors (what was published, and what the
editors changed) and the colleagues its stories recognize. Moved here from the sending code, which
now only announces `EditionSent`."""

from __future__ import annotations

from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Edition
from app.models import EditionItem
from app.models import Quote
from app.models import Recognition
from app.models import Story
from app.models import User
from app.notifications.messages import notify_featured
from app.notifications.messages import notify_published
from app.review.services import mark_changes_notified
from app.review.services import pending_change_summaries


def notify_edition_sent(edition_id: int, story_ids: list[int], quote_ids: list[int]) -> None:
    """One "published" email per author and one "featured" email per recognized colleague,
    for the items this edition published, in the edition's order."""
    edition = db.session.get(Edition, edition_id, options=[
        selectinload(Edition.items).selectinload(EditionItem.story).options(
            selectinload(Story.recognitions).selectinload(Recognition.user),
            selectinload(Story.author),
        ),
        selectinload(Edition.items).selectinload(EditionItem.quote).selectinload(Quote.author),
    ])  # fmt: skip
    if edition is None:
        return
    published = {("story", i) for i in story_ids} | {("quote", i) for i in quote_ids}
    items = [
        entry.content
        for entry in edition.items
        if entry.content is not None and (entry.content.kind, entry.content.id) in published
    ]
    _notify(edition, items)


def _notify(edition: Edition, items: list[Story | Quote]) -> None:
    by_author: dict[int, list[Story | Quote]] = {}
    featured: dict[int, list[Story]] = {}
    people: dict[int, User] = {}
    for item in items:
        by_author.setdefault(item.author_id, []).append(item)
        people[item.author_id] = item.author
        if isinstance(item, Story):
            for recognition in item.recognitions:
                user = recognition.user
                if user is not None and user.id != item.author_id:
                    stories = featured.setdefault(user.id, [])
                    if item not in stories:
                        stories.append(item)
                    people[user.id] = user
    changes = _editor_changes([i for i in items if isinstance(i, Story)])
    for author_id, authored in by_author.items():
        notify_published(people[author_id], authored, edition, changes or None)
    for user_id, stories in featured.items():
        notify_featured(people[user_id], stories, edition)


def _editor_changes(stories: list[Story]) -> dict[int, str]:
    """What editors changed in each story that its author has not been told about, for the
    author's email: only the editors' own revisions, each run against the revision just before
    it, so the author's own later edits are never reported as the editor's. Those revisions
    are then marked as told (`app.review.services`)."""
    if not stories:
        return {}
    changes = pending_change_summaries(stories)
    mark_changes_notified(stories)
    return changes
