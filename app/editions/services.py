"""Writes for the upcoming edition: creation, placement of approved items, order, pin, subject and
intro, send time, skip, send now and test sends.

Model (see docs in the final report of the curation work):

* There is exactly one *draft* edition, "the upcoming edition", created on demand by
  `ensure_upcoming` with the next number. A *scheduled* edition is one the sending pipeline has
  taken over (e.g. "send now" requested); it can still be edited until it starts sending, and
  while it exists the draft behind it is the later edition.
* Every approved item is either in an open (draft/scheduled) edition or in the *approved pool*.
  Approval puts it at the end of the upcoming edition (or of one the editor chose).
* "Remove" puts an item back in the pool and *holds* it there until an editor adds it again.
  "Move to the next edition" moves it into the later open edition when there is one; from the
  draft it waits in the pool and opens the next edition, which takes every waiting (not held)
  pool item in approval order when it is created. Held vs waiting is the item's latest placement
  decision in the audit trail, so it needs no extra column and is visible in its history.
* A per-edition send time is an override on the draft (`Edition.scheduled_at`, UTC); the draft
  stays a draft, so new approvals keep flowing into it. Skipping marks the week as used and
  rolls the items, in their order, to the top of the next edition.

Functions flush but never commit (the caller owns the transaction). Editor changes check the
edition version the editor saw and bump it, so concurrent edits end in a clear Conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app import audit
from app.auth.access import require_curator
from app.database import begin_write
from app.editions.queries import BUSY
from app.editions.queries import OPEN_STATUSES
from app.editions.queries import draft_edition
from app.editions.queries import edition_conflict_message
from app.editions.queries import held_refs
from app.editions.queries import load_items
from app.editions.queries import model_for
from app.editions.queries import ordered_items
from app.editions.queries import pool_refs
from app.editions.queries import send_times
from app.editions.queries import weekly_slot
from app.errors import Conflict
from app.errors import IllegalTransition
from app.errors import NotFound
from app.errors import ValidationError
from app.extensions import db
from app.models import Edition
from app.models import EditionItem
from app.models import EditionStatus
from app.models import Quote
from app.models import Story
from app.models import SubmissionStatus
from app.models import User
from app.models import utcnow
from app.newsletter.sending import may_send
from app.newsletter.sending import request_send_now
from app.newsletter.sending import send_test as newsletter_send_test
from app.richtext import render_markdown
from app.submissions.rules import InvalidInput
from app.text import clean_text
from app.titles import item_title
from app.workflow import transition_edition

T = TypeVar("T")
SUBJECT_MAX = 120  # "Feel Good Fridays #123: " + subject must fit the 150-character column
INTRO_MAX = 5_000
MIN_LEAD = timedelta(minutes=5)
MAX_AHEAD = timedelta(days=180)


def guarded(action: Callable[[], T], describe: Callable[[], str]) -> T:
    """Run one change in a savepoint and turn a lost race into a Conflict saying who won.

    `action` re-checks the version the user saw. On PostgreSQL a change committed since then
    surfaces as StaleDataError (UPDATE ... WHERE version = seen matched no row); only the
    savepoint is rolled back, so a bulk action carries on with the next item. On SQLite the
    request began with the write lock (app/database.py), so the winner has committed before
    `action` reads, and its version check raises the Conflict itself. (The review package uses
    it too: app.review imports app.editions, never the other way round.)
    """
    try:
        with db.session.begin_nested():
            return action()
    except StaleDataError:
        raise Conflict(describe()) from None


# -- the upcoming edition ------------------------------------------------------------------------


def ensure_upcoming() -> Edition:
    """The draft edition, created with the next number (and the waiting pool) if there is none.

    Two requests may try to create it at once: the partial unique index on status='draft' (or
    the unique number) refuses the second INSERT, which then reads the winner's draft.
    """
    for _ in range(3):
        draft = draft_edition()
        if draft is not None:
            return draft
        number = (db.session.scalar(sa.select(sa.func.max(Edition.number))) or 0) + 1
        try:
            with db.session.begin_nested():
                edition = Edition(number=number, status=EditionStatus.DRAFT)
                db.session.add(edition)
        except IntegrityError:
            continue
        audit.record(None, "edition.create", edition, number=number)
        _take_waiting_pool(edition)
        return edition
    raise Conflict(BUSY)


def open_upcoming() -> Edition:
    """`ensure_upcoming` for a page load (GET): it reads, and only when the draft is missing
    turns the transaction into a write one (a GET begins as a reader: app/database.py)."""
    draft = draft_edition()
    if draft is not None:
        return draft
    begin_write()
    return ensure_upcoming()


def _take_waiting_pool(edition: Edition) -> None:
    """A new edition starts with the pool's waiting items, in approval order."""
    refs = pool_refs()
    held = held_refs(refs)
    waiting = load_items([ref for ref in refs if ref not in held])
    for position, item in enumerate(waiting):
        _new_entry(edition, item, position)
        _placement_event(None, item, "add_to_edition", edition, automatic=True)


def _new_entry(edition: Edition, item: Story | Quote, position: int) -> EditionItem:
    with db.session.no_autoflush:  # half-built rows must not be flushed by a lazy load
        entry = EditionItem(position=position)
        db.session.add(entry)
        if isinstance(item, Story):
            entry.story = item
        else:
            entry.quote = item
        edition.items.append(entry)
    return entry


def _placement_event(
    actor: User | None, item: Story | Quote, verb: str, edition: Edition, **details
) -> None:
    audit.record(
        actor,
        f"{item.kind}.{verb}",
        item,
        edition=edition.number,
        edition_id=edition.id,
        **details,
    )


def _next_position(edition: Edition) -> int:
    top = db.session.scalar(
        sa.select(sa.func.max(EditionItem.position)).where(EditionItem.edition_id == edition.id)
    )
    return 0 if top is None else top + 1


def _entry_for(item: Story | Quote) -> EditionItem | None:
    column = EditionItem.story_id if isinstance(item, Story) else EditionItem.quote_id
    return db.session.scalar(sa.select(EditionItem).where(column == item.id).limit(1))


def _lock_open(edition: Edition) -> None:
    """Lock the edition row (PostgreSQL) and make sure the sender has not taken it yet."""
    status = db.session.scalar(
        sa.select(Edition.status).where(Edition.id == edition.id).with_for_update()
    )
    if status not in OPEN_STATUSES:
        raise Conflict(edition_conflict_message(edition.id))


def add_approved_item(
    item: Story | Quote,
    edition: Edition | None = None,
    *,
    actor: User | None = None,
    automatic: bool | None = None,
) -> EditionItem:
    """Put an approved item at the end of `edition` (default: the upcoming one).

    Idempotent: an item already in that edition stays where it is; one in another open edition
    moves. Does not bump the edition's version: approvals must not invalidate the page of an
    editor arranging the edition at the same time (the full reorder checks the item set).
    """
    if item.status != SubmissionStatus.APPROVED:
        raise IllegalTransition(f"Only approved items can go in an edition; this {item.kind} is "
                                f"{item.status.label.lower()}.")
    target = edition if edition is not None else ensure_upcoming()
    _lock_open(target)
    entry = _entry_for(item)
    if entry is not None and entry.edition_id == target.id:
        return entry
    if entry is not None:
        if entry.edition.status not in OPEN_STATUSES:
            raise IllegalTransition(f"This {item.kind} is already in edition "
                                    f"#{entry.edition.number}.")
        entry.edition.items.remove(entry)
        db.session.flush()
    entry = _new_entry(target, item, _next_position(target))
    automatic = edition is None if automatic is None else automatic
    _placement_event(actor, item, "add_to_edition", target, automatic=automatic)
    return entry


# -- editor changes ------------------------------------------------------------------------------


def _require_curator(actor: User) -> None:
    require_curator(actor, "Only editors can change editions.")


def _check_editable(edition: Edition, seen_version: int) -> None:
    if edition.status not in OPEN_STATUSES or edition.version != seen_version:
        raise Conflict(edition_conflict_message(edition.id))


def _change(edition: Edition, seen_version: int, actor: User, change: Callable[[], T]) -> T:
    """Run an editor's change: version check, the change, a version bump, conflict handling."""
    _require_curator(actor)
    edition_id = edition.id

    def action() -> T:
        _check_editable(edition, seen_version)
        result = change()
        edition.updated_at = utcnow()  # always an UPDATE, so the version moves
        db.session.flush()
        return result

    return guarded(action, lambda: edition_conflict_message(edition_id))


def _find(edition: Edition, entry_id: int) -> EditionItem:
    for entry in edition.items:
        if entry.id == entry_id:
            return entry
    raise NotFound(f"That item is not in edition #{edition.number} any more.")


def _renumber(entries: list[EditionItem]) -> None:
    for position, entry in enumerate(entries):
        entry.position = position


def _ref(entry: EditionItem) -> str:
    return f"{entry.content.kind}:{entry.content.id}"


def move_item(
    edition: Edition, entry_id: int, direction: str, *, actor: User, seen_version: int
) -> bool:
    """Move one item up or down by one place (the keyboard / no-JavaScript way to reorder).

    Returns False when it is already at that end. The featured (pinned) story stays on top.
    """
    if direction not in ("up", "down"):
        raise ValidationError("Move an item up or down.")

    def change() -> bool:
        entries = ordered_items(edition)
        entry = _find(edition, entry_id)
        if entry.pinned:
            raise ValidationError("The featured story stays at the top. Unpin it to move it.")
        index = entries.index(entry)
        other = index - 1 if direction == "up" else index + 1
        if other < 0 or other >= len(entries) or entries[other].pinned:
            return False
        entries[index], entries[other] = entries[other], entries[index]
        _renumber(entries)
        audit.record(actor, "edition.move_item", edition, item=_ref(entry),
                     title=item_title(entry.content, 60), direction=direction, position=other + 1)
        return True

    return _change(edition, seen_version, actor, change)


def reorder(edition: Edition, order: list[int], *, actor: User, seen_version: int) -> bool:
    """Apply a full order (drag and drop). It must list exactly the edition's items: if one was
    added or removed meanwhile, the editor is asked to reload rather than lose it."""

    def change() -> bool:
        entries = ordered_items(edition)
        if sorted(order) != sorted(e.id for e in entries):
            raise Conflict(
                f"Edition #{edition.number} gained or lost items since you opened it. "
                "Reload to see them, then arrange it again."
            )
        by_id = {e.id: e for e in entries}
        wanted = [by_id[i] for i in order]
        wanted.sort(key=lambda e: not e.pinned)  # stable: the featured story stays first
        if wanted == entries:
            return False
        _renumber(wanted)
        audit.record(actor, "edition.reorder", edition, order=[_ref(e) for e in wanted])
        return True

    return _change(edition, seen_version, actor, change)


def set_pinned(
    edition: Edition, entry_id: int, pinned: bool, *, actor: User, seen_version: int
) -> None:
    """Feature a story at the top (one per edition), or stop featuring it."""

    def change() -> None:
        entry = _find(edition, entry_id)
        if pinned and entry.story is None:
            raise ValidationError("Only a story can be featured at the top.")
        if entry.pinned == pinned:
            return
        for other in edition.items:
            other.pinned = False
        entry.pinned = pinned
        entries = ordered_items(edition)
        if pinned:
            entries.remove(entry)
            entries.insert(0, entry)
        _renumber(entries)
        audit.record(actor, "edition.pin" if pinned else "edition.unpin", edition,
                     item=_ref(entry), title=item_title(entry.content, 60))

    _change(edition, seen_version, actor, change)


def remove_item(
    edition: Edition, entry_id: int, *, actor: User, seen_version: int
) -> Story | Quote:
    """Take an item out, back to the approved pool, held there until an editor adds it again."""

    def change() -> Story | Quote:
        entry = _find(edition, entry_id)
        item = entry.content
        edition.items.remove(entry)
        _renumber(ordered_items(edition))
        _placement_event(actor, item, "remove_from_edition", edition)
        return item

    return _change(edition, seen_version, actor, change)


def move_to_later(
    edition: Edition, entry_id: int, *, actor: User, seen_version: int
) -> tuple[Story | Quote, Edition | None]:
    """Move an item to the next edition: the later open one (created if this edition is already
    scheduled), or, from the draft, the pool's waiting list that opens the next edition.
    Returns the item and its new edition (None: waiting for the next one)."""

    def change() -> tuple[Story | Quote, Edition | None]:
        entry = _find(edition, entry_id)
        item = entry.content
        later = _later_edition(edition)
        edition.items.remove(entry)
        _renumber(ordered_items(edition))
        db.session.flush()
        if later is not None:
            _new_entry(later, item, _next_position(later))
        _placement_event(actor, item, "move_to_later", edition,
                         to_edition=later.number if later else None)
        return item, later

    return _change(edition, seen_version, actor, change)


def _later_edition(edition: Edition) -> Edition | None:
    later = db.session.scalar(
        sa.select(Edition)
        .where(Edition.status.in_(OPEN_STATUSES), Edition.number > edition.number)
        .order_by(Edition.number)
        .limit(1)
    )
    if later is None and edition.status == EditionStatus.SCHEDULED:
        later = ensure_upcoming()
    return later


def add_from_pool(
    edition: Edition, kind: str, item_id: int, *, actor: User, seen_version: int
) -> Story | Quote:
    """Put an approved item from the pool at the end of this edition."""
    model = model_for(kind)

    def change() -> Story | Quote:
        item = db.session.get(model, item_id)
        if item is None or item.status != SubmissionStatus.APPROVED:
            raise Conflict(f"That {kind} is no longer waiting in the approved pool.")
        entry = _entry_for(item)
        if entry is not None:
            raise Conflict(f"That {kind} is already in edition #{entry.edition.number}.")
        _new_entry(edition, item, _next_position(edition))
        _placement_event(actor, item, "add_to_edition", edition, automatic=False)
        return item

    return _change(edition, seen_version, actor, change)


def update_content(
    edition: Edition, *, subject: str, intro_md: str, actor: User, seen_version: int
) -> bool:
    """Subject line and the editor's intro (Markdown, same renderer and sanitizer as stories)."""
    subject = clean_text(subject)
    intro = clean_text(intro_md, multiline=True)
    errors = {}
    if len(subject) > SUBJECT_MAX:
        errors["subject"] = (
            f"Keep the subject under {SUBJECT_MAX} characters (it has {len(subject)})."
        )
    if len(intro) > INTRO_MAX:
        errors["intro_md"] = f"Keep the intro under {INTRO_MAX} characters (it has {len(intro)})."
    if errors:
        raise InvalidInput(errors)

    def change() -> bool:
        changed = [name for name, old, new in (("subject", edition.subject, subject),
                                               ("intro", edition.intro_md, intro)) if old != new]
        if not changed:
            return False
        edition.subject = subject
        edition.intro_md = intro
        edition.intro_html = str(render_markdown(intro))
        audit.record(actor, "edition.update", edition, fields=changed)
        return True

    return _change(edition, seen_version, actor, change)


def set_send_time(
    edition: Edition,
    when: datetime | None,
    *,
    actor: User,
    seen_version: int,
    now: datetime | None = None,
) -> None:
    """Override this edition's send time (UTC), or go back to the weekly schedule (None)."""
    now = now or utcnow()
    if when is not None:
        if when.tzinfo is None:
            raise ValueError("send times are aware datetimes")
        if when < now + MIN_LEAD:
            raise ValidationError("Pick a time at least 5 minutes from now.")
        if when > now + MAX_AHEAD:
            raise ValidationError("Pick a time within the next six months.")

    def change() -> None:
        if edition.scheduled_at == when:
            return
        old = edition.scheduled_at
        edition.scheduled_at = when
        audit.record(actor, "edition.reschedule", edition,
                     **{"from": old.isoformat() if old else None,
                        "to": when.isoformat() if when else None,
                        "weekly": when is None})

    _change(edition, seen_version, actor, change)


def skip(
    edition: Edition, *, actor: User, seen_version: int, now: datetime | None = None
) -> Edition:
    """Skip this edition's week; its items, in their order and with the featured story, go to
    the top of the next edition (created if needed). Returns that edition."""

    def change() -> Edition:
        planned = send_times(None, now=now)[edition.id].at
        week = weekly_slot().week_of(planned)
        entries = ordered_items(edition)
        rolled = [(e.content, e.pinned) for e in entries]
        edition.iso_week = edition.iso_week or week
        transition_edition(edition, EditionStatus.SKIPPED, actor=actor, week=week,
                           items=[_ref(e) for e in entries])
        db.session.flush()  # frees the one-draft slot for the next edition
        target = _later_edition(edition) or ensure_upcoming()
        edition.items.clear()
        db.session.flush()
        existing = ordered_items(target)
        has_pinned = any(e.pinned for e in existing)
        rolled_entries = []
        for item, pinned in rolled:
            entry = _new_entry(target, item, 0)
            entry.pinned = pinned and not has_pinned
            rolled_entries.append(entry)
            _placement_event(actor, item, "roll_over", target, from_edition=edition.number)
        _renumber(
            [e for e in existing if e.pinned]
            + sorted(rolled_entries, key=lambda e: not e.pinned)
            + [e for e in existing if not e.pinned]
        )
        target.updated_at = utcnow()
        return target

    return _change(edition, seen_version, actor, change)


def send_now(edition: Edition, *, actor: User, seen_version: int) -> None:
    """Hand the edition to the sending pipeline right away (after the editor confirmed)."""
    _require_curator(actor)
    _check_editable(edition, seen_version)
    request_send_now(edition, actor)  # it applies the empty-edition policy (sending.may_send)


def send_test(edition: Edition, user: User) -> object:
    """Send the edition, exactly as recipients will get it (dated by its send time, not by
    today), to `user` only ("[TEST]" subject)."""
    _require_curator(user)
    if not may_send(edition):  # the one empty-edition rule: what may go out may be tested
        raise ValidationError("Add a story or a quote before sending a test.")
    return newsletter_send_test(edition, user)
