"""Reads for the upcoming-edition pages: the edition with its items, the pool, counts, schedule.

Like the review queue, the upcoming page loads in a fixed number of queries whatever the number
of items (tests/test_editions_queries.py counts them).

It also holds the read helpers the review package shares (eager-load options, `load_items`):
app.review imports app.editions, never the other way round, because each package's __init__
imports its views. (The optimistic-locking `guarded` writes, so it lives in app.editions.services.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from sqlalchemy.orm import selectinload

from app.errors import NotFound
from app.errors import ValidationError
from app.extensions import db
from app.models import AuditEvent
from app.models import Edition
from app.models import EditionItem
from app.models import EditionStatus
from app.models import Quote
from app.models import Recognition
from app.models import Story
from app.models import SubmissionStatus
from app.models import User
from app.models import utcnow
from app.newsletter.due import upcoming as due_editions  # the scheduler's own rules
from app.newsletter.queries import Progress
from app.newsletter.queries import is_stalled
from app.newsletter.queries import is_starting
from app.newsletter.queries import progress
from app.newsletter.schedule import WeeklySlot
from app.settings import WEEKDAYS
from app.settings import get_setting
from app.settings import get_settings

OPEN_STATUSES = (EditionStatus.DRAFT, EditionStatus.SCHEDULED)

# -- shared with the review pages (here, so this package never imports app.review) -----------

KINDS: dict[str, type[Story] | type[Quote]] = {"story": Story, "quote": Quote}

# Everything a story card, the newsletter rendering and the counts touch, loaded up front.
STORY_LOAD = (
    joinedload(Story.author),
    joinedload(Story.team),
    joinedload(Story.touchpoint),
    selectinload(Story.tags),
    selectinload(Story.recognitions).joinedload(Recognition.user),
)
QUOTE_LOAD = (joinedload(Quote.author), joinedload(Quote.team))


def model_for(kind: str) -> type[Story] | type[Quote]:
    try:
        return KINDS[kind]
    except KeyError:
        raise NotFound("There is no such kind of item.") from None


def load_items(refs: list[tuple[str, int]]) -> list[Story | Quote]:
    """Stories and quotes by (kind, id), eagerly loaded, in the order of `refs`; missing skipped."""
    story_ids = [i for k, i in refs if k == "story"]
    quote_ids = [i for k, i in refs if k == "quote"]
    found: dict[tuple[str, int], Story | Quote] = {}
    if story_ids:
        for story in db.session.scalars(
            sa.select(Story).where(Story.id.in_(story_ids)).options(*STORY_LOAD)
        ).unique():
            found[("story", story.id)] = story
    if quote_ids:
        for quote in db.session.scalars(
            sa.select(Quote).where(Quote.id.in_(quote_ids)).options(*QUOTE_LOAD)
        ).unique():
            found[("quote", quote.id)] = quote
    return [found[ref] for ref in refs if ref in found]


def when_label(at: datetime, now: datetime | None = None) -> str:
    """'10:42' today, otherwise 'Tue 3 Mar, 10:42': in the organization's time zone."""
    zone = ZoneInfo(get_setting("timezone"))
    local = at.astimezone(zone)
    today = (now or utcnow()).astimezone(zone).date()
    if local.date() == today:
        return f"{local:%H:%M}"
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"


BUSY = "Someone else was saving at the same moment. Please try again."


# Where an approved item's placement is decided; the latest one tells "held" from "waiting".
PLACEMENT_ACTIONS = ("add_to_edition", "remove_from_edition", "move_to_later", "roll_over")
HOLD_ACTION = "remove_from_edition"


def _item_load() -> tuple:
    return (
        selectinload(Edition.items).selectinload(EditionItem.story).options(*STORY_LOAD),
        selectinload(Edition.items).selectinload(EditionItem.quote).options(*QUOTE_LOAD),
    )


def open_editions() -> list[Edition]:
    """Editions that can still change (draft and scheduled), in the order they go out."""
    return list(
        db.session.scalars(
            sa.select(Edition).where(Edition.status.in_(OPEN_STATUSES)).order_by(Edition.number)
        )
    )


def draft_edition() -> Edition | None:
    return db.session.scalar(sa.select(Edition).where(Edition.status == EditionStatus.DRAFT))


def load_edition(edition_id: int, *, for_update: bool = False) -> Edition:
    """An edition with its items and everything they show, eagerly loaded.

    `for_update` locks the row (PostgreSQL) so a change cannot interleave with the sender
    claiming the edition; SQLite serializes writers anyway.
    """
    query = sa.select(Edition).where(Edition.id == edition_id).options(*_item_load())
    if for_update:
        query = query.with_for_update(of=Edition)
    edition = db.session.scalars(query).unique().one_or_none()
    if edition is None:
        raise NotFound("There is no such edition.")
    return edition


def ordered_items(edition: Edition) -> list[EditionItem]:
    """The edition's items as readers see them: the pinned story first, then by position."""
    return sorted(edition.items, key=lambda ei: (not ei.pinned, ei.position, ei.id or 0))


@dataclass(frozen=True)
class Counts:
    stories: int
    quotes: int
    colleagues: int

    @property
    def total(self) -> int:
        return self.stories + self.quotes


def edition_counts(edition: Edition) -> Counts:
    """Stories, quotes and distinct colleagues recognized: accounts by id, typed names by
    spelling, and a typed name that matches a recognized account's name is that person."""
    stories = [ei.story for ei in edition.items if ei.story is not None]
    accounts: dict[int, str] = {}
    names: set[str] = set()
    for story in stories:
        for rec in story.recognitions:
            if rec.user_id is not None and rec.user is not None:
                accounts[rec.user_id] = _person_key(rec.user.display_name)
            elif rec.name:
                names.add(_person_key(rec.name))
    quotes = sum(1 for ei in edition.items if ei.quote is not None)
    return Counts(len(stories), quotes, len(accounts) + len(names - set(accounts.values())))


def _person_key(name: str) -> str:
    return " ".join(name.split()).casefold()


# -- on its way ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InFlight:
    """An edition on its way to everyone: handed to the sender ("send now", not yet taken:
    `starting`) or sending. The upcoming page shows it with its progress, not as a draft."""

    edition: Edition
    progress: Progress
    starting: bool
    stalled: bool  # starting for minutes: is the scheduler running?


def in_flight(editions: list[Edition], *, now: datetime | None = None) -> list[InFlight]:
    """Of the open `editions`, those starting, plus every sending one (one query, and one
    grouped count per edition on its way, of which there is rarely more than one)."""
    now = now or utcnow()
    sending = list(db.session.scalars(
        sa.select(Edition).where(Edition.status == EditionStatus.SENDING)
    ))
    going = sorted([e for e in editions if is_starting(e, now)] + sending, key=lambda e: e.number)
    return [
        InFlight(e, progress(e), is_starting(e, now), is_stalled(e, now)) for e in going
    ]


# -- the approved pool ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolItem:
    item: Story | Quote
    held: bool  # an editor removed it: it waits until someone adds it again


def pool_refs() -> list[tuple[str, int]]:
    """Approved stories and quotes in no edition, in approval order."""
    story_q = sa.select(
        sa.literal("story", sa.String(8)).label("kind"), Story.id, Story.approved_at
    ).where(Story.status == SubmissionStatus.APPROVED, ~Story.edition_items.any())
    quote_q = sa.select(
        sa.literal("quote", sa.String(8)).label("kind"), Quote.id, Quote.approved_at
    ).where(Quote.status == SubmissionStatus.APPROVED, ~Quote.edition_items.any())
    union = sa.union_all(story_q, quote_q).subquery()
    rows = db.session.execute(
        sa.select(union.c.kind, union.c.id).order_by(union.c.approved_at, union.c.kind, union.c.id)
    ).all()
    return [(row.kind, row.id) for row in rows]


def held_refs(refs: list[tuple[str, int]]) -> set[tuple[str, int]]:
    """Of `refs`, those whose latest placement decision was "remove from the edition"."""
    if not refs:
        return set()
    conditions = []
    for kind in ("story", "quote"):
        ids = [i for k, i in refs if k == kind]
        if ids:
            conditions.append(sa.and_(
                AuditEvent.object_type == kind,
                AuditEvent.object_id.in_(ids),
                AuditEvent.action.in_([f"{kind}.{a}" for a in PLACEMENT_ACTIONS]),
            ))
    rows = db.session.execute(
        sa.select(AuditEvent.object_type, AuditEvent.object_id, AuditEvent.action)
        .where(sa.or_(*conditions))
        .order_by(AuditEvent.created_at, AuditEvent.id)
    ).all()
    latest: dict[tuple[str, int], str] = {}
    for row in rows:
        latest[(row.object_type, row.object_id)] = row.action.split(".", 1)[1]
    return {ref for ref, action in latest.items() if action == HOLD_ACTION}


def approved_pool() -> list[PoolItem]:
    """The pool with each item's state, eagerly loaded (three queries plus the relations)."""
    refs = pool_refs()
    held = held_refs(refs)
    return [PoolItem(item, (item.kind, item.id) in held) for item in load_items(refs)]


# -- schedule ------------------------------------------------------------------------------------


def safe_zone(name: str | None, fallback: str) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo(fallback)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(fallback)


def weekly_slot() -> WeeklySlot:
    values = get_settings("send_weekday", "send_time", "timezone")
    return WeeklySlot.from_settings(values["send_weekday"], values["send_time"], values["timezone"])


def schedule_label(slot: WeeklySlot) -> str:
    """"Fridays at 09:00"."""
    return f"{WEEKDAYS[slot.weekday]}s at {slot.at:%H:%M}"


@dataclass(frozen=True)
class SendTime:
    """When an edition goes out, in UTC, the organization's zone and the viewer's zone."""

    at: datetime
    is_override: bool
    org_zone: ZoneInfo
    user_zone: ZoneInfo
    now: datetime

    @property
    def org_local(self) -> datetime:
        return self.at.astimezone(self.org_zone)

    @property
    def user_local(self) -> datetime:
        return self.at.astimezone(self.user_zone)

    @property
    def zones_differ(self) -> bool:
        return self.org_zone.key != self.user_zone.key

    @property
    def overdue(self) -> bool:
        return self.at <= self.now


def send_times(viewer: User | None, *, now: datetime | None = None) -> dict[int, SendTime]:
    """Each open edition's send time, computed by the scheduler's own rules (its override,
    otherwise the weekly slot of the first free week), so the page and the sender agree."""
    now = now or utcnow()
    slot = weekly_slot()
    user_zone = safe_zone(viewer.timezone if viewer else None, slot.zone.key)
    return {
        edition.id: SendTime(due.at, due.is_override, slot.zone, user_zone, now)
        for edition, due in due_editions(now)
    }


def local_to_utc(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """A wall-clock time in `zone` as UTC; refuses times that do not exist (clocks go forward).

    A time that happens twice (clocks go back) means the first occurrence.
    """
    local = datetime.combine(day, clock, tzinfo=zone)
    utc = local.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise ValidationError(
            f"{clock:%H:%M} does not exist on {day:%d %B %Y} in {zone.key} (the clocks go "
            "forward); pick another time."
        )
    return utc


# -- who changed it ------------------------------------------------------------------------------

EDITION_EDIT_ACTIONS = frozenset({
    "edition.create", "edition.reorder", "edition.move_item", "edition.pin", "edition.unpin",
    "edition.update", "edition.reschedule", "edition.schedule", "edition.skip",
    "edition.start_sending", "edition.finish_sending", "edition.send_now",
})  # fmt: skip


def edition_conflict_message(edition_id: int) -> str:
    """Why a change to an edition on a stale page was refused: who changed it, and when."""
    edition = db.session.get(Edition, edition_id, populate_existing=True)
    if edition is None:
        return "This edition no longer exists."
    placement = [f"{k}.{a}" for k in ("story", "quote") for a in PLACEMENT_ACTIONS]
    event = db.session.scalar(
        sa.select(AuditEvent)
        .where(sa.or_(
            sa.and_(
                AuditEvent.object_type == "edition",
                AuditEvent.object_id == edition_id,
                AuditEvent.action.in_(EDITION_EDIT_ACTIONS),
            ),
            sa.and_(
                AuditEvent.action.in_(placement),
                AuditEvent.details["edition_id"].as_integer() == edition_id,
            ),
        ))
        .options(joinedload(AuditEvent.actor))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(1)
    )
    if edition.status not in OPEN_STATUSES:
        state = "was skipped" if edition.status == EditionStatus.SKIPPED else (
            f"is {edition.status.label.lower()}")
        return f"Edition #{edition.number} {state}, so it can no longer be changed."
    if event is None:
        return f"Edition #{edition.number} changed after you opened it. Reload to see it."
    who = event.actor.display_name if event.actor else "The system"
    return (
        f"Edition #{edition.number} was changed by {who} at {when_label(event.created_at)} "
        "after you opened it. Reload to see the latest version, then try again."
    )
