"""Reads for "download my data": everything a person wrote and everything stored about them,
as JSON-ready dicts, one kind per function, streamed (`yield_per`) so an author of thousands of
stories or an admin with a long audit trail never holds it all in memory.

Only what is about the person: other people appear by id and, where a page would show it, by
name (a story's recognized colleagues are part of the story they wrote). Token secrets are
never stored, so never exported (only the hash is kept, and that is left out too).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import AccessToken
from app.models import AuditEvent
from app.models import Comment
from app.models import Delivery
from app.models import Edition
from app.models import EngagementEvent
from app.models import NotificationPreference
from app.models import Quote
from app.models import Reaction
from app.models import Recognition
from app.models import Revision
from app.models import Story
from app.models import User

CHUNK = 500
FEED_PURPOSE = "feed"


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "value") and not isinstance(value, int | float | str | bool):
        return value.value  # enums
    return value


def _row(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: _value(getattr(obj, name)) for name in fields}


def profile(user: User) -> dict[str, Any]:
    data = _row(user, ("id", "email", "display_name", "role", "timezone", "email_opt_out",
                       "opted_out_at", "invited_at", "created_at", "last_login_at",
                       "external_id", "oidc_issuer", "oidc_subject", "is_active_user"))
    data["team"] = {"id": user.team.id, "name": user.team.name} if user.team else None
    data["manager"] = ({"id": user.manager.id, "name": user.manager.display_name}
                       if user.manager else None)
    data["has_password"] = user.has_password
    data["has_photo"] = bool(user.photo_key)
    return data


def _revisions(kind: str, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = db.session.scalars(
        sa.select(Revision).where(Revision.object_type == kind, Revision.object_id.in_(ids))
        .order_by(Revision.object_id, Revision.number)
    )
    for rev in rows:
        found[rev.object_id].append({"number": rev.number, "created_at": _value(rev.created_at),
                                     "author_id": rev.author_id, "data": rev.data})
    return found


STORY_FIELDS = ("id", "status", "title", "body_md", "customer_name", "customer_organization",
                "customer_segment", "customer_consent", "cover_image", "cover_image_alt",
                "editor_note", "created_at", "updated_at", "submitted_at", "decided_at",
                "approved_at", "published_at")
QUOTE_FIELDS = ("id", "status", "text", "anonymous", "customer_name", "customer_role",
                "customer_organization", "customer_consent", "source", "nps_score",
                "received_on", "story_id", "editor_note", "created_at", "updated_at",
                "submitted_at", "decided_at", "approved_at", "published_at")


def _chunks(stmt: sa.Select) -> Iterator[list[Any]]:
    last = 0
    entity = stmt.column_descriptions[0]["entity"]
    while True:
        rows = list(db.session.scalars(stmt.where(entity.id > last).order_by(entity.id)
                                       .limit(CHUNK)))
        if not rows:
            return
        yield rows
        last = rows[-1].id


def stories(user_id: int) -> Iterator[dict[str, Any]]:
    stmt = (sa.select(Story).where(Story.author_id == user_id)
            .options(selectinload(Story.tags), selectinload(Story.recognitions)
                     .selectinload(Recognition.user), selectinload(Story.touchpoint)))
    for rows in _chunks(stmt):
        revisions = _revisions("story", [s.id for s in rows])
        for story in rows:
            data = _row(story, STORY_FIELDS)
            data["touchpoint"] = story.touchpoint.label if story.touchpoint else None
            data["tags"] = [t.name for t in story.tags]
            data["recognized"] = [r.display_name for r in story.recognitions]
            data["revisions"] = revisions[story.id]
            yield data


def quotes(user_id: int) -> Iterator[dict[str, Any]]:
    for rows in _chunks(sa.select(Quote).where(Quote.author_id == user_id)):
        revisions = _revisions("quote", [q.id for q in rows])
        for quote in rows:
            data = _row(quote, QUOTE_FIELDS)
            data["revisions"] = revisions[quote.id]
            yield data


def comments(user_id: int) -> Iterator[dict[str, Any]]:
    stmt = sa.select(Comment).where(Comment.author_id == user_id).options(
        selectinload(Comment.story))
    for rows in _chunks(stmt):
        for comment in rows:
            data = _row(comment, ("id", "story_id", "body", "created_at", "removed_at"))
            data["story_title"] = comment.story.title
            yield data


def reactions(user_id: int) -> Iterator[dict[str, Any]]:
    rows = db.session.execute(
        sa.select(Reaction.story_id, Story.title, Reaction.created_at)
        .join(Story, Story.id == Reaction.story_id)
        .where(Reaction.user_id == user_id).order_by(Reaction.id)
        .execution_options(yield_per=CHUNK)
    )
    for story_id, title, at in rows:
        yield {"story_id": story_id, "story_title": title, "applauded_at": _value(at)}


def recognitions(user_id: int) -> Iterator[dict[str, Any]]:
    """Stories that name them (whoever wrote them): the story's id, title and status only."""
    rows = db.session.execute(
        sa.select(Story.id, Story.title, Story.status, Story.published_at)
        .join(Recognition, Recognition.story_id == Story.id)
        .where(Recognition.user_id == user_id).order_by(Story.id)
        .execution_options(yield_per=CHUNK)
    )
    for story_id, title, status, published_at in rows:
        yield {"story_id": story_id, "story_title": title, "status": _value(status),
               "published_at": _value(published_at)}


def deliveries(user: User) -> Iterator[dict[str, Any]]:
    rows = db.session.execute(
        sa.select(Delivery, Edition.number)
        .join(Edition, Edition.id == Delivery.edition_id)
        .where(sa.or_(Delivery.user_id == user.id, Delivery.email == user.email))
        .order_by(Delivery.id).execution_options(yield_per=CHUNK)
    )
    for delivery, number in rows:
        data = _row(delivery, ("edition_id", "email", "recipient_name", "status", "attempts",
                               "last_error", "sent_at", "created_at"))
        data["edition_number"] = number
        yield data


def reading_events(user_id: int) -> Iterator[dict[str, Any]]:
    rows = db.session.scalars(
        sa.select(EngagementEvent).where(EngagementEvent.user_id == user_id)
        .order_by(EngagementEvent.id).execution_options(yield_per=CHUNK)
    )
    for event in rows:
        yield _row(event, ("edition_id", "kind", "item_kind", "item_id", "at"))


def notification_preferences(user_id: int) -> Iterator[dict[str, Any]]:
    rows = db.session.scalars(
        sa.select(NotificationPreference).where(NotificationPreference.user_id == user_id)
        .order_by(NotificationPreference.kind)
    )
    for pref in rows:
        yield _row(pref, ("kind", "enabled", "updated_at"))


def tokens(user_id: int) -> Iterator[dict[str, Any]]:
    """Their API and feed tokens: metadata only (the secret was shown once and never stored)."""
    rows = db.session.scalars(
        sa.select(AccessToken).where(sa.or_(
            AccessToken.user_id == user_id,
            sa.and_(AccessToken.purpose == FEED_PURPOSE, AccessToken.created_by_id == user_id),
        )).order_by(AccessToken.id)
    )
    for token in rows:
        yield _row(token, ("id", "purpose", "name", "prefix", "scopes", "created_at",
                           "last_used_at", "expires_at", "revoked_at"))


def audit_entries(user_id: int) -> Iterator[dict[str, Any]]:
    """Entries by them and about their account. Entries where they only acted (an admin's
    changes to other people, a story they approved) say what, on which object and when, but not
    the details: those are about someone else (another person's address, their old name)."""
    stmt = sa.select(AuditEvent).where(sa.or_(
        AuditEvent.actor_id == user_id,
        sa.and_(AuditEvent.object_type == "user", AuditEvent.object_id == user_id),
    ))
    for rows in _chunks(stmt):
        for event in rows:
            about_you = event.object_type == "user" and event.object_id == user_id
            fields = ("id", "action", "object_type", "object_id", "created_at")
            data = _row(event, (*fields, "details") if about_you else fields)
            data["by_you"] = event.actor_id == user_id
            yield data
