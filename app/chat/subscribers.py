"""Events → chat posts (recorded in the subscriber's transaction, posted by the "chat" job).

Each subscriber only reads and inserts rows (no network): the posts go out after its commit,
off its thread (app.chat.delivery), so chat trouble never touches the send or the other
subscribers of the event. A re-dispatched event adds nothing (dedupe keys).
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from sqlalchemy.orm import selectinload

from app.chat import messages
from app.chat import queries
from app.chat import services
from app.chat.delivery import ChatStats
from app.chat.delivery import run_chat
from app.events import ColleagueFeatured
from app.events import EditionSent
from app.events import SubmissionPublished
from app.events import subscribe
from app.extensions import db
from app.jobs import scheduled
from app.models import Edition
from app.models import Recognition
from app.models import Story
from app.models import SubmissionStatus
from app.models import User


def _stories(ids: list[int]) -> list[Story]:
    if not ids:
        return []
    return list(db.session.scalars(
        sa.select(Story).where(Story.id.in_(ids)).options(
            joinedload(Story.author), joinedload(Story.team),
            selectinload(Story.recognitions).joinedload(Recognition.user))
    ))  # fmt: skip


@subscribe(EditionSent)
def post_edition_sent(event: EditionSent) -> None:
    """"Edition sent": subject, intro, the first stories in the edition's order, a link."""
    destinations = queries.destinations_for("on_edition_sent")
    if not destinations:
        return
    edition = db.session.get(Edition, event.edition_id)
    if edition is None:
        return
    by_id = {s.id: s for s in _stories(event.story_ids)}
    order = {entry.story_id: entry.position for entry in edition.items if entry.story_id}
    stories = sorted(by_id.values(), key=lambda s: (order.get(s.id, 1 << 30), s.id))
    message = messages.edition_sent(edition, stories, len(event.quote_ids))
    services.record_posts(destinations, services.EDITION_SENT, f"edition:{edition.id}", message)


@subscribe(ColleagueFeatured)
def post_shout_out(event: ColleagueFeatured) -> None:
    """A shout-out for a featured colleague; a team's destination gets those of its team's
    stories and of its own people."""
    user = db.session.get(User, event.user_id)
    stories = _stories([event.story_id])
    edition = db.session.get(Edition, event.edition_id)
    if user is None or not user.is_active_user or not stories or edition is None:
        return
    story = stories[0]
    destinations = queries.destinations_for("on_colleague_featured",
                                            [story.team_id, user.team_id])
    if destinations:
        services.record_posts(destinations, services.COLLEAGUE_FEATURED,
                              f"featured:{story.id}:{user.id}",
                              messages.colleague_featured(user, story, edition))


@subscribe(SubmissionPublished)
def post_new_story(event: SubmissionPublished) -> None:
    """"New story published" (stories only), for destinations that chose it, a team's
    destination only for that team's stories."""
    if event.item_kind != "story":
        return
    stories = _stories([event.item_id])
    if not stories or stories[0].status != SubmissionStatus.PUBLISHED:
        return
    story = stories[0]
    destinations = queries.destinations_for("on_story_published", [story.team_id])
    if destinations:
        services.record_posts(destinations, services.STORY_PUBLISHED, f"story:{story.id}",
                              messages.story_published(story))


@scheduled("chat", "Posts to Slack and Microsoft Teams (retries, and what a process left)",
           every="SCHEDULER_CHAT_SECONDS")
def chat_job(should_stop: Callable[[], bool]) -> ChatStats:
    return run_chat(should_stop=should_stop)
