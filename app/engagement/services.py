"""Readership writes: recording a click or an open, applauding from the email, anonymizing
per-person events, and the admin's readership settings.

Recording is built to be cheap, since every reader's every click comes here: one read of the
settings, then one INSERT … SELECT that checks what it needs in the same statement (the edition
still exists; in per-person mode the delivery belongs to that edition and names the reader).

Whether a click or an open is counted is decided by the email, frozen when the edition was
compiled: a link that carries a genuine tag is recorded even if counting was switched off since
(the edition's report says it was measured, so its counts must stay whole); the switches only
change editions compiled afterwards. Whose it is depends on the mode *now*: switching to
aggregate-only stops per-person rows at once, even from emails sent before.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from app.engagement import tokens
from app.engagement.applause import ApplauseTarget
from app.engagement.applause import applause_target
from app.engagement.tokens import LinkTarget
from app.extensions import db
from app.models import Delivery
from app.models import Edition
from app.models import User
from app.models import utcnow
from app.models.engagement import EngagementEvent
from app.reading.services import set_applause
from app.settings import get_settings
from app.settings import set_settings

CLICK, OPEN, PROXY_OPEN = "click", "open", "proxy_open"
READERSHIP_KEYS = ("track_clicks", "track_opens", "analytics_mode", "engagement_person_days")
EVENTS = EngagementEvent.__table__


def record_click(target: LinkTarget, tag: str) -> bool:
    """Count a click on a tracked link; False when nothing was recorded (a preview's "-" tag, a
    malformed or forged tag, an edition that no longer exists, a per-person read past retention)."""
    return _record(target.edition_id, CLICK, tag, target.item_kind, target.item_id)


def record_open(edition_id: int, tag: str, *, proxy: bool) -> bool:
    """Count a load of the open image: `proxy` when a privacy proxy fetched it at delivery
    (counted apart: it says the message arrived, not that anybody read it)."""
    return _record(edition_id, PROXY_OPEN if proxy else OPEN, tag, None, None)


def _record(edition_id: int, kind: str, tag: str, item_kind: str | None,
            item_id: int | None) -> bool:
    settings = get_settings("analytics_mode", "engagement_person_days")
    per_person = settings["analytics_mode"] == "person"
    values: dict[str, Any] = {
        "edition_id": sa.literal(edition_id), "kind": sa.literal(kind),
        "item_kind": sa.literal(item_kind, sa.String), "item_id": sa.literal(item_id, sa.Integer),
        "at": sa.literal(utcnow(), EVENTS.c.at.type),
    }
    random_tag = tokens.read_random_tag(tag)
    if random_tag is not None:
        # A message sent in aggregate-only mode: its random tag links it to nobody.
        source, where = Edition, Edition.id == edition_id
        values |= {"tag": sa.literal(random_tag), "user_id": sa.null()}
    else:
        delivery_id = tokens.read_person_tag(tag)
        if delivery_id is None:
            return False
        if per_person:
            # Only while the edition is within retention: its rows are anonymized (given a new
            # random tag) from then on, so a later read stored as d<id> would count the message
            # twice. Before that no row of the edition can have been anonymized yet (rows are
            # anonymized `engagement_person_days` after they were recorded, never before the send
            # began; `sent_at` is set when the send ends).
            cutoff = utcnow() - timedelta(days=int(settings["engagement_person_days"]))
            began = sa.func.coalesce(Edition.sending_started_at, Edition.sent_at)
            source = sa.join(Delivery, Edition, Edition.id == Delivery.edition_id)
            where = sa.and_(Delivery.id == delivery_id, Delivery.edition_id == edition_id,
                            sa.or_(began.is_(None), began >= cutoff))
            values |= {"tag": sa.literal(f"d{delivery_id}"), "user_id": Delivery.user_id}
        else:
            # Sent in per-person mode, read after the switch to aggregate-only: nothing may
            # tie the row to the message, so it gets a tag of its own (each such read counts
            # as a distinct message: a small overcount, never a name).
            source, where = Edition, Edition.id == edition_id
            values |= {"tag": sa.literal(tokens.random_tag("x")), "user_id": sa.null()}
    select = sa.select(*values.values()).select_from(source).where(where)
    inserted = db.session.execute(sa.insert(EVENTS).from_select(list(values), select))
    return bool(inserted.rowcount)


def applaud_from_email(story_id: int, token: str) -> ApplauseTarget:
    """Applaud the story as the person the email's link names (idempotent: a second POST, or
    applause given on the site before, changes nothing). Raises ApplauseRefused."""
    target = applause_target(story_id, token)
    set_applause(target.story.id, target.user, applaud=True)
    return target


def anonymize_person_events(*, before: datetime | None, user_id: int | None = None,
                            limit: int = 5000) -> int:
    """Anonymize up to `limit` messages' per-person events: every row of a message (edition and
    tag) that has a row recorded before `before` (None: all of them) loses its user and gets a
    new random tag, the same for the whole message, so unique counts stay exactly as they were
    while nobody can be linked to them (the new tag is drawn at random, not derived from the
    old one). `user_id` limits it to one person's messages (their erasure). Returns how many
    messages were anonymized; the caller commits."""
    due = EVENTS.c.tag.like("d%")
    if before is not None:
        due = sa.and_(due, EVENTS.c.at < before)
    if user_id is not None:
        due = sa.and_(due, EVENTS.c.user_id == user_id)
    groups = db.session.execute(
        sa.select(EVENTS.c.edition_id, EVENTS.c.tag).where(due).distinct()
        .order_by(EVENTS.c.edition_id, EVENTS.c.tag).limit(limit)
    ).all()
    if not groups:
        return 0
    update = (
        sa.update(EVENTS)
        .where(EVENTS.c.edition_id == sa.bindparam("b_edition"),
               EVENTS.c.tag == sa.bindparam("b_tag"))
        .values(tag=sa.bindparam("b_new"), user_id=None)
    )
    db.session.execute(update, [
        {"b_edition": edition_id, "b_tag": tag, "b_new": tokens.random_tag("a")}
        for edition_id, tag in groups
    ])
    return len(groups)


def save_readership_settings(values: dict[str, Any], *, actor: User) -> tuple[dict[str, Any], int]:
    """Save the readership settings; leaving per-person mode anonymizes every per-person event
    in the same transaction (nobody keeps data the staff were told is no longer kept).
    Returns (what changed, how many messages were anonymized)."""
    changed = set_settings({k: values[k] for k in READERSHIP_KEYS if k in values}, actor=actor)
    anonymized = 0
    if changed.get("analytics_mode") == "aggregate":
        while True:
            done = anonymize_person_events(before=None)
            anonymized += done
            if done == 0:
                break
    return changed, anonymized
