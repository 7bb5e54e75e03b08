"""Domain events → webhook deliveries (recorded in the subscriber's transaction, sent after it).

Each subscriber only reads and inserts rows (no network): deliveries go out after its commit,
off its thread (app.webhooks.delivery), so a slow receiver never touches the send of an edition
or the other subscribers of the event. A re-dispatched event adds nothing (`dedupe_key`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from sqlalchemy.orm import selectinload

from app import events
from app.events import ChangesRequested
from app.events import ColleagueFeatured
from app.events import EditionSent
from app.events import Event
from app.events import SubmissionApproved
from app.events import SubmissionPublished
from app.events import SubmissionRejected
from app.events import SubmissionSubmitted
from app.events import SubmissionWithdrawn
from app.events import subscribe
from app.extensions import db
from app.jobs import scheduled
from app.models import Edition
from app.models import Quote
from app.models import Recognition
from app.models import Story
from app.models import SubmissionStatus
from app.models import User
from app.webhooks import catalog
from app.webhooks import queries
from app.webhooks import services
from app.webhooks.delivery import WebhookStats
from app.webhooks.delivery import deliver
from app.webhooks.delivery import prune

P = SubmissionStatus.PUBLISHED


def dedupe_key(event: Event) -> str:
    """One delivery per endpoint per happening: the domain event's row id (a re-dispatch has
    the same); outside a dispatch (a direct call), the event's name and a digest of its fields."""
    event_id = events.current_event_id()
    if event_id is not None:
        return f"event:{event_id}"
    fields = json.dumps(event.payload(), sort_keys=True, separators=(",", ":"), default=str)
    return f"event:{event.name}:{hashlib.sha256(fields.encode()).hexdigest()[:40]}"


# What a story's payload names: its author, team and colleagues (no query per story).
_PEOPLE = (joinedload(Story.author), joinedload(Story.team),
           selectinload(Story.recognitions).joinedload(Recognition.user))


def _stories(ids: list[int]) -> list[Story]:
    stmt = sa.select(Story).where(Story.id.in_(ids or [-1])).options(*_PEOPLE)
    return list(db.session.scalars(stmt.order_by(Story.id)))


def _any_endpoint(_event: Event) -> bool:
    """Asked at emit: while no endpoint is active, events cost no webhook transaction."""
    return queries.any_active_endpoint()


def _record(event_type: str, event: Event, build: Callable[[], dict[str, Any] | None]) -> None:
    endpoints = queries.endpoints_for(event_type)
    if not endpoints:
        return
    data = build()
    if data is not None:
        # One domain event may give two types (submission.published: story.published and
        # submission.status_changed) to one endpoint: the type is part of the key.
        services.record_deliveries(endpoints, event_type, f"{event_type}:{dedupe_key(event)}",
                                   data)


@subscribe(EditionSent, when=_any_endpoint)
def edition_sent(event: EditionSent) -> None:
    def build() -> dict[str, Any] | None:
        edition = db.session.get(Edition, event.edition_id)
        if edition is None:
            return None
        order = {(e.story_id or 0, e.quote_id or 0): e.position for e in edition.items}
        stories = sorted(_stories(event.story_ids),
                         key=lambda s: (order.get((s.id, 0), 1 << 30), s.id))
        quotes = list(db.session.scalars(
            sa.select(Quote).where(Quote.id.in_(event.quote_ids or [-1])).order_by(Quote.id)))
        quotes.sort(key=lambda q: (order.get((0, q.id), 1 << 30), q.id))
        return catalog.edition_sent(edition, stories, quotes)

    _record(catalog.EDITION_SENT, event, build)


@subscribe(SubmissionPublished, when=_any_endpoint)
def item_published(event: SubmissionPublished) -> None:
    """story.published / quote.published (only while the item is still published)."""
    edition = db.session.get(Edition, event.edition_id)
    if event.item_kind == "story":
        def build_story() -> dict[str, Any] | None:
            found = _stories([event.item_id])
            if not found or found[0].status != P:
                return None
            return catalog.story_published(found[0], edition)

        _record(catalog.STORY_PUBLISHED, event, build_story)
    elif event.item_kind == "quote":
        def build_quote() -> dict[str, Any] | None:
            quote = db.session.get(Quote, event.item_id)
            if quote is None or quote.status != P:
                return None
            return catalog.quote_published(quote, edition)

        _record(catalog.QUOTE_PUBLISHED, event, build_quote)


@subscribe(ColleagueFeatured, when=_any_endpoint)
def colleague_featured(event: ColleagueFeatured) -> None:
    def build() -> dict[str, Any] | None:
        user = db.session.get(User, event.user_id)
        found = _stories([event.story_id])
        if user is None or not user.is_active_user or not found or found[0].status != P:
            return None
        return catalog.colleague_featured(user, found[0], db.session.get(Edition,
                                                                          event.edition_id))

    _record(catalog.COLLEAGUE_FEATURED, event, build)


# The state machine (app/workflow.py) says where each of these comes from.
_STATUS: dict[type[Event], tuple[str | None, str]] = {
    ChangesRequested: ("submitted", "changes_requested"),
    SubmissionApproved: ("submitted", "approved"),
    SubmissionRejected: ("submitted", "rejected"),
    SubmissionPublished: ("approved", "published"),
}


def _status_changed(event: Any) -> None:
    if isinstance(event, SubmissionSubmitted):
        old, new = ("changes_requested" if event.resubmitted else "draft"), "submitted"
    elif isinstance(event, SubmissionWithdrawn):  # from one of three: the event says which
        old, new = event.previous_status, SubmissionStatus.WITHDRAWN.value
    else:
        old, new = _STATUS[type(event)]
    model = {"story": Story, "quote": Quote}.get(event.item_kind)
    if model is None:
        return

    def build() -> dict[str, Any]:
        item = db.session.get(model, event.item_id)
        edition_id = getattr(event, "edition_id", None)
        edition = db.session.get(Edition, edition_id) if edition_id is not None else None
        return catalog.status_changed(item, event.item_kind, event.item_id, old, new, edition)

    _record(catalog.STATUS_CHANGED, event, build)


# One subscriber per status event, each under a stable name (its markers are stored by name).
for _status_event in (SubmissionSubmitted, SubmissionWithdrawn, *_STATUS):
    subscribe(_status_event, when=_any_endpoint,
              name=f"{__name__}.status_{_status_event.name.removeprefix('submission.')}")(
        _status_changed)


@scheduled("webhooks", "Outbound webhooks (retries, what a process left, pruning)",
           every="SCHEDULER_WEBHOOKS_SECONDS")
def webhooks_job(should_stop: Callable[[], bool]) -> WebhookStats:
    """Send what is due (retries, rows a dead process left), then forget old delivered rows."""
    stats = deliver(should_stop=should_stop)
    stats.pruned = prune()
    return stats
