"""Editors' decisions on submitted stories and quotes, their edits (kept as revisions), bulk
approval, and the "what the editors changed" summaries sent to authors at publication.

Every write is guarded by the version the editor saw: a stale page, or a true race between two
editors, ends in a Conflict whose message names who did what and when ("Already approved by Dana
Whitfield at 10:42"), never in a double decision or a lost edit (`app.editions.services.guarded`).
Functions flush but never commit; each decision emits its event (app.events) in the caller's
transaction, and the author is notified by a subscriber after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa

from app import audit
from app.auth.access import require_curator
from app.editions.services import add_approved_item
from app.editions.services import ensure_upcoming
from app.editions.services import guarded
from app.errors import Conflict
from app.errors import DomainError
from app.errors import IllegalTransition
from app.errors import ValidationError
from app.events import ChangesRequested
from app.events import Event
from app.events import SubmissionApproved
from app.events import SubmissionRejected
from app.events import emit
from app.extensions import db
from app.models import Edition
from app.models import EditionItem
from app.models import Quote
from app.models import Revision
from app.models import Story
from app.models import SubmissionStatus
from app.models import User
from app.models import utcnow
from app.numbers import positive_int
from app.review.diff import FieldChange
from app.review.diff import diff_snapshots
from app.review.diff import summarize
from app.review.queries import BUSY
from app.review.queries import KINDS
from app.review.queries import conflict_message
from app.review.queries import current_entry
from app.review.queries import load_items
from app.review.queries import model_for
from app.review.queries import on_its_way
from app.submissions.rules import InvalidInput
from app.submissions.rules import QuoteInput
from app.submissions.rules import StoryInput
from app.submissions.rules import check_quote
from app.submissions.rules import check_story
from app.submissions.services import apply_quote
from app.submissions.services import apply_story
from app.submissions.services import snapshot
from app.text import clean_text
from app.titles import item_title
from app.workflow import transition_submission

S = SubmissionStatus
T = TypeVar("T")
EDITABLE = (S.SUBMITTED, S.APPROVED)
NOTE_MAX = 2_000
BULK_MAX = 200


# -- guards --------------------------------------------------------------------------------------


def _require_curator(actor: User) -> None:
    require_curator(actor, "Only editors can review submissions.")


def _describe(kind: str, item_id: int, seen_version: int) -> Callable[[], str]:
    def describe() -> str:
        model = model_for(kind)
        current = db.session.scalar(sa.select(model.version).where(model.id == item_id))
        return BUSY if current == seen_version else conflict_message(kind, item_id)

    return describe


def _guard(item: Story | Quote, seen_version: int, actor: User, change: Callable[[], T]) -> T:
    """Version check + change + flush in a savepoint; a lost race becomes a clear Conflict."""
    _require_curator(actor)
    kind, item_id = item.kind, item.id

    def action() -> T:
        if item.version != seen_version:
            raise Conflict(conflict_message(kind, item_id))
        result = change()
        db.session.flush()
        return result

    return guarded(action, _describe(kind, item_id, seen_version))


def _note(text: str | None, what: str) -> str:
    note = clean_text(text, multiline=True)
    if not note:
        raise ValidationError(f"Please write {what}.")
    if len(note) > NOTE_MAX:
        raise ValidationError(f"Keep it under {NOTE_MAX} characters (it has {len(note)}).")
    return note


# -- decisions -----------------------------------------------------------------------------------


def approve(
    item: Story | Quote, *, actor: User, seen_version: int, edition: Edition | None = None
) -> EditionItem:
    """Approve and line the item up: at the end of `edition`, or of the upcoming one."""

    def change() -> EditionItem:
        # The edition first: a newly created draft takes the waiting pool, not this item.
        target = edition if edition is not None else ensure_upcoming()
        transition_submission(item, S.APPROVED, actor=actor)
        entry = add_approved_item(item, target, actor=actor, automatic=edition is None)
        emit(SubmissionApproved(item_kind=item.kind, item_id=item.id, actor_id=actor.id,
                                edition_id=target.id))
        return entry

    return _guard(item, seen_version, actor, change)


def request_changes(item: Story | Quote, *, actor: User, seen_version: int, note: str) -> None:
    """Send the item back to its author with a note (required) saying what to change."""
    note = _note(note, "a note for the author")
    event = ChangesRequested(item_kind=item.kind, item_id=item.id, actor_id=actor.id, note=note)
    _answer(item, S.CHANGES_REQUESTED, note, event, actor=actor, seen_version=seen_version)


def reject(item: Story | Quote, *, actor: User, seen_version: int, reason: str) -> None:
    """Turn the item down with a reason (required), which the author receives."""
    reason = _note(reason, "the reason")
    event = SubmissionRejected(item_kind=item.kind, item_id=item.id, actor_id=actor.id,
                               reason=reason)
    _answer(item, S.REJECTED, reason, event, actor=actor, seen_version=seen_version)


def _answer(
    item: Story | Quote, to: SubmissionStatus, note: str, event: Event, *, actor: User,
    seen_version: int,
) -> None:
    """A decision with a note for the author: the move and its event, under the guard."""

    def change() -> None:
        transition_submission(item, to, actor=actor, note=note)
        emit(event)

    _guard(item, seen_version, actor, change)


@dataclass(frozen=True)
class ItemRef:
    """An item as a form carries it: kind, id and the version the editor saw."""

    kind: str
    id: int
    version: int

    @classmethod
    def parse(cls, value: str) -> ItemRef:
        """"story:12:3" -> ItemRef("story", 12, 3)."""
        try:
            kind, item_id, version = value.split(":")
            if kind not in KINDS:
                raise ValueError(kind)
            return cls(kind, positive_int(item_id), positive_int(version))
        except ValueError:
            raise ValidationError("The selection was not understood; reload the queue.") from None

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}:{self.version}"


@dataclass(frozen=True)
class BulkResult:
    ref: ItemRef
    ok: bool
    message: str


def bulk_approve(
    refs: Sequence[ItemRef], *, actor: User, edition: Edition | None = None
) -> list[BulkResult]:
    """Approve several items, each on its own: one that changed meanwhile is reported (with
    who changed it) and left alone, the others are approved. Order follows `refs`."""
    _require_curator(actor)
    unique = list(dict.fromkeys(refs))
    if not unique:
        raise ValidationError("Select at least one item to approve.")
    if len(unique) > BULK_MAX:
        raise ValidationError(f"Approve at most {BULK_MAX} items at a time.")
    found = {(i.kind, i.id): i for i in load_items([(r.kind, r.id) for r in unique])}
    results = []
    for ref in unique:
        item = found.get((ref.kind, ref.id))
        if item is None:
            results.append(BulkResult(ref, False, f"A {ref.kind} you selected no longer exists."))
            continue
        name = item_title(item, 60)
        try:
            approve(item, actor=actor, seen_version=ref.version, edition=edition)
        except DomainError as error:
            results.append(BulkResult(ref, False, f"“{name}” was not approved: {error.message}"))
        else:
            results.append(BulkResult(ref, True, f"“{name}” approved."))
    return results


# -- editing -------------------------------------------------------------------------------------


def _raise_errors(errors: dict[str, str], form_errors: dict[str, str] | None) -> None:
    """The rules' errors and what only the form could see (which wins), all at once."""
    if errors or form_errors:
        raise InvalidInput({**errors, **(form_errors or {})})


def _last_revision(item: Story | Quote) -> Revision | None:
    return db.session.scalar(
        sa.select(Revision)
        .where(Revision.object_type == item.kind, Revision.object_id == item.id)
        .order_by(Revision.number.desc())
        .limit(1)
    )


def edit_item(
    item: Story | Quote,
    data: StoryInput | QuoteInput,
    *,
    actor: User,
    seen_version: int,
    form_errors: dict[str, str] | None = None,
) -> Revision | None:
    """Apply an editor's edit and keep it as a revision (None when nothing changed).

    The same content rules as the author's (`app.submissions.rules`, checked for the item's
    author, once, with the form's own `form_errors`) and the same way of storing them; an
    editor may also link a free-text colleague name to its account (`StoryInput.name_links`).

    If the latest revision does not match what the editor started from (or there is none), the
    starting point is saved first, attributed to the author, so every editor revision has an
    exact "before" to diff against and to summarize for the author at publication.
    """
    if isinstance(item, Story) != isinstance(data, StoryInput):
        raise TypeError("edit data does not match the item kind")

    def change() -> Revision | None:
        if item.status not in EDITABLE:
            raise IllegalTransition(
                f"This {item.kind} is {item.status.label.lower()}; editors can change it while "
                "it is submitted or approved."
            )
        entry = current_entry(item)
        if on_its_way(entry):
            raise Conflict(
                f"This {item.kind} goes out with edition #{entry.edition.number}, which is on its "
                "way; it can no longer be edited."
            )
        before = snapshot(item)
        last = _last_revision(item)
        if isinstance(item, Story):
            checked = check_story(data, item.author, item)  # type: ignore[arg-type]
            _raise_errors(checked.errors, form_errors)
            apply_story(item, checked)
        else:
            checked_quote = check_quote(data, item.author, item)  # type: ignore[arg-type]
            _raise_errors(checked_quote.errors, form_errors)
            apply_quote(item, checked_quote)
        with db.session.no_autoflush:
            after = snapshot(item)
        if after == before:
            return None
        item.updated_at = utcnow()  # always an UPDATE, so the version moves
        # The versioned UPDATE goes first: it is what detects (or waits for) a concurrent
        # writer; only then are the revision numbers read above safe to use.
        db.session.flush()
        number = last.number if last else 0
        if last is None or last.data != before:
            number += 1
            db.session.add(Revision(
                object_type=item.kind, object_id=item.id, number=number, data=before,
                author_id=item.author_id, author_notified=True,
            ))
        number += 1
        revision = Revision(
            object_type=item.kind, object_id=item.id, number=number, data=after,
            author_id=actor.id, author_notified=False,
        )
        db.session.add(revision)
        changed = [c.field for c in diff_snapshots(before, after)]
        audit.record(actor, f"{item.kind}.editor_edit", item, revision=number, fields=changed)
        return revision

    return _guard(item, seen_version, actor, change)


# -- telling authors what changed ----------------------------------------------------------------


def _revisions_of(items: Iterable[Story | Quote]) -> dict[tuple[str, int], list[Revision]]:
    by_kind: dict[str, set[int]] = {}
    for item in items:
        by_kind.setdefault(item.kind, set()).add(item.id)
    if not by_kind:
        return {}
    rows = db.session.scalars(
        sa.select(Revision)
        .where(sa.or_(*(
            sa.and_(Revision.object_type == kind, Revision.object_id.in_(ids))
            for kind, ids in by_kind.items()
        )))
        .order_by(Revision.object_type, Revision.object_id, Revision.number)
    )
    grouped: dict[tuple[str, int], list[Revision]] = {}
    for rev in rows:
        grouped.setdefault((rev.object_type, rev.object_id), []).append(rev)
    return grouped


def _pending_changes(item: Story | Quote, revisions: list[Revision]) -> list[FieldChange]:
    """Net changes of each run of consecutive unnotified editor revisions, against the revision
    just before the run (so an author's own edit in between is never blamed on the editors)."""
    changes: list[FieldChange] = []
    base: Revision | None = None
    run_end: Revision | None = None
    previous: Revision | None = None
    for rev in [*revisions, None]:
        pending = rev is not None and not rev.author_notified and rev.author_id != item.author_id
        if pending:
            if run_end is None:
                base = previous
            run_end = rev
        elif run_end is not None:
            if base is not None:
                changes.extend(diff_snapshots(base.data, run_end.data))
            run_end = None
        previous = rev
    return changes


def pending_change_summaries(items: Sequence[Story | Quote]) -> dict[int, str]:
    """Item id -> readable summary of editor changes the author has not been told about.

    Story and quote ids overlap, so pass one kind per call (a mixed list raises ValueError
    rather than risk telling an author about someone else's item). Items without pending
    editor changes are left out.
    """
    kinds = {item.kind for item in items}
    if len(kinds) > 1:
        raise ValueError("pending_change_summaries takes stories or quotes, not both")
    grouped = _revisions_of(items)
    summaries = {}
    for item in items:
        revisions = grouped.get((item.kind, item.id), [])
        changes = _pending_changes(item, revisions)
        if changes:
            summaries[item.id] = summarize(changes)
    return summaries


def mark_changes_notified(items: Sequence[Story | Quote]) -> None:
    """Record that authors were told about these items' editor changes (same transaction as
    the email, which goes out after the commit)."""
    for revisions in _revisions_of(items).values():
        for rev in revisions:
            rev.author_notified = True
