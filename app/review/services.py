"""Editors' decisions on submitted stories and quotes, their edits (kept as revisions), bulk
approval, and the "what the editors changed" summaries sent to authors at publication.

Every write is guarded by the version the editor saw: a stale page, or a true race between two
editors, ends in a Conflict whose message names who did what and when ("Already approved by Dana
Whitfield at 10:42"), never in a double decision or a lost edit (`app.review.queries.guarded`).
Functions flush but never commit; notifications are queued to go out after the caller's commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import audit, notifications
from app.editions.services import add_approved_item, ensure_upcoming
from app.errors import Conflict, DomainError, IllegalTransition, PermissionDenied, ValidationError
from app.extensions import db
from app.models import (
    Edition,
    EditionItem,
    Quote,
    Revision,
    Story,
    SubmissionStatus,
    Tag,
    Touchpoint,
    User,
    utcnow,
)
from app.numbers import positive_int
from app.review.diff import FieldChange, diff_snapshots, summarize
from app.review.queries import (
    BUSY,
    KINDS,
    conflict_message,
    guarded,
    load_items,
    model_for,
)
from app.richtext import render_markdown
from app.submissions.services import (
    BODY_MAX,
    BODY_MIN,
    MAX_TAGS,
    NAME_MAX,
    QUOTE_MAX,
    QUOTE_MIN,
    TAG_MAX,
    TITLE_MAX,
    TITLE_MIN,
    InvalidInput,
    normalize_tag,
    snapshot,
    split_tags,
)
from app.text import clean_text
from app.workflow import transition_submission

S = SubmissionStatus
T = TypeVar("T")
EDITABLE = (S.SUBMITTED, S.APPROVED)
NOTE_MAX = 2_000
BULK_MAX = 200


# -- guards --------------------------------------------------------------------------------------


def _require_curator(actor: User) -> None:
    if not actor.is_editor or not actor.is_active_user:
        raise PermissionDenied("Only editors can review submissions.")


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
        notifications.notify_approved(item)
        return entry

    return _guard(item, seen_version, actor, change)


def request_changes(item: Story | Quote, *, actor: User, seen_version: int, note: str) -> None:
    """Send the item back to its author with a note (required) saying what to change."""
    note = _note(note, "a note for the author")

    def change() -> None:
        transition_submission(item, S.CHANGES_REQUESTED, actor=actor, note=note)
        notifications.notify_changes_requested(item, note)

    _guard(item, seen_version, actor, change)


def reject(item: Story | Quote, *, actor: User, seen_version: int, reason: str) -> None:
    """Turn the item down with a reason (required), which the author receives."""
    reason = _note(reason, "the reason")

    def change() -> None:
        transition_submission(item, S.REJECTED, actor=actor, note=reason)
        notifications.notify_rejected(item, reason)

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
        name = display_title(item)
        try:
            approve(item, actor=actor, seen_version=ref.version, edition=edition)
        except DomainError as error:
            results.append(BulkResult(ref, False, f"“{name}” was not approved: {error.message}"))
        else:
            results.append(BulkResult(ref, True, f"“{name}” approved."))
    return results


def display_title(item: Story | Quote, length: int = 60) -> str:
    if isinstance(item, Story):
        return item.title
    text = " ".join(item.text.split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


# -- editing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoryEdit:
    """What an editor may change in a story: the words, tags, touchpoint, customer naming."""

    title: str
    body_md: str
    touchpoint_id: int | None = None
    tags: list[str] | str = field(default_factory=list)
    customer_name: str = ""
    customer_organization: str = ""
    customer_segment: str = ""
    customer_consent: bool = False


@dataclass(frozen=True)
class QuoteEdit:
    """What an editor may change in a quote: the words and how the customer is named."""

    text: str
    anonymous: bool = False
    customer_name: str = ""
    customer_role: str = ""
    customer_organization: str = ""
    customer_consent: bool = False


def _length(errors: dict[str, str], name: str, value: str, low: int, high: int, label: str) -> None:
    if len(value) < low:
        errors[name] = f"{label} needs at least {low} characters."
    elif len(value) > high:
        errors[name] = f"{label} can be at most {high} characters (it has {len(value)})."


def _clean_tags(raw: list[str] | str, errors: dict[str, str]) -> list[str]:
    names = split_tags(raw) if isinstance(raw, str) else list(raw)
    tags = list(dict.fromkeys(t for t in (normalize_tag(n) for n in names) if t))
    if len(tags) > MAX_TAGS:
        errors["tags"] = f"Use at most {MAX_TAGS} tags."
    for tag in tags:
        if len(tag) > TAG_MAX:
            errors["tags"] = f"Tags can be at most {TAG_MAX} characters (“{tag[:20]}…”)."
        elif "/" in tag or "\\" in tag or not any(ch.isalnum() for ch in tag):
            errors["tags"] = f"“{tag}” is not a usable tag (letters or numbers, no slashes)."
    return tags


def _names(errors: dict[str, str], values: dict[str, str]) -> dict[str, str | None]:
    cleaned = {}
    for name, value in values.items():
        text = clean_text(value)
        if len(text) > NAME_MAX:
            errors[name] = f"Keep it under {NAME_MAX} characters (it has {len(text)})."
        cleaned[name] = text or None
    return cleaned


def _tags(names: list[str]) -> list[Tag]:
    """Existing tags by name, missing ones created (a concurrent creator wins quietly)."""
    found = {t.name: t for t in db.session.scalars(sa.select(Tag).where(Tag.name.in_(names)))}
    for name in names:
        if name not in found:
            try:
                with db.session.begin_nested():
                    found[name] = Tag(name=name)
                    db.session.add(found[name])
            except IntegrityError:
                found[name] = db.session.scalars(sa.select(Tag).where(Tag.name == name)).one()
    return [found[n] for n in names]


def _apply_story(story: Story, data: StoryEdit) -> None:
    errors: dict[str, str] = {}
    title, body = clean_text(data.title), clean_text(data.body_md, multiline=True)
    _length(errors, "title", title, TITLE_MIN, TITLE_MAX, "The title")
    _length(errors, "body_md", body, BODY_MIN, BODY_MAX, "The story")
    tags = _clean_tags(data.tags, errors)
    names = _names(errors, {
        "customer_name": data.customer_name,
        "customer_organization": data.customer_organization,
        "customer_segment": data.customer_segment,
    })
    touchpoint = None
    if data.touchpoint_id is not None:
        touchpoint = db.session.get(Touchpoint, data.touchpoint_id)
        if touchpoint is None or (
            not touchpoint.is_active and touchpoint.id != story.touchpoint_id
        ):
            errors["touchpoint_id"] = "Choose a touchpoint from the list."
    if errors:
        raise InvalidInput(errors)
    if tags != [t.name for t in story.tags]:
        story.tags = _tags(tags)
    story.title = title
    if body != story.body_md:
        story.body_md = body
        story.body_html = str(render_markdown(body))
    story.touchpoint = touchpoint
    story.customer_name = names["customer_name"]
    story.customer_organization = names["customer_organization"]
    story.customer_segment = names["customer_segment"]
    story.customer_consent = bool(data.customer_consent)


def _apply_quote(quote: Quote, data: QuoteEdit) -> None:
    errors: dict[str, str] = {}
    text = clean_text(data.text, multiline=True)
    _length(errors, "text", text, QUOTE_MIN, QUOTE_MAX, "The quote")
    names = _names(errors, {
        "customer_name": data.customer_name,
        "customer_role": data.customer_role,
        "customer_organization": data.customer_organization,
    })
    if errors:
        raise InvalidInput(errors)
    if text != quote.text:
        quote.text = text
        quote.text_html = str(render_markdown(text))
    quote.anonymous = bool(data.anonymous)
    quote.customer_name = names["customer_name"]
    quote.customer_role = names["customer_role"]
    quote.customer_organization = names["customer_organization"]
    quote.customer_consent = bool(data.customer_consent)


def _last_revision(item: Story | Quote) -> Revision | None:
    return db.session.scalar(
        sa.select(Revision)
        .where(Revision.object_type == item.kind, Revision.object_id == item.id)
        .order_by(Revision.number.desc())
        .limit(1)
    )


def edit_item(
    item: Story | Quote, data: StoryEdit | QuoteEdit, *, actor: User, seen_version: int
) -> Revision | None:
    """Apply an editor's edit and keep it as a revision (None when nothing changed).

    If the latest revision does not match what the editor started from (or there is none), the
    starting point is saved first, attributed to the author, so every editor revision has an
    exact "before" to diff against and to summarize for the author at publication.
    """
    if isinstance(item, Story) != isinstance(data, StoryEdit):
        raise TypeError("edit data does not match the item kind")

    def change() -> Revision | None:
        if item.status not in EDITABLE:
            raise IllegalTransition(
                f"This {item.kind} is {item.status.label.lower()}; editors can change it while "
                "it is submitted or approved."
            )
        before = snapshot(item)
        last = _last_revision(item)
        # One UPDATE at the end (one version step), not one per lazy load along the way.
        with db.session.no_autoflush:
            if isinstance(item, Story):
                _apply_story(item, data)  # type: ignore[arg-type]
            else:
                _apply_quote(item, data)  # type: ignore[arg-type]
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
