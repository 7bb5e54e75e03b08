"""Reads for the review pages: the queue, one item with its history, and "who changed it" lookups.

Every list loads its rows and their relations in a fixed number of queries (eager loading), so the
queue costs the same with 5 items or 200; tests/test_review_queries.py counts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from sqlalchemy.orm import selectinload

from app.editions.queries import BUSY  # noqa: F401 - re-exported for the review package
from app.editions.queries import KINDS  # noqa: F401 - re-exported for the review package
from app.editions.queries import QUOTE_LOAD  # noqa: F401 - re-exported for the review package
from app.editions.queries import STORY_LOAD  # noqa: F401 - re-exported for the review package
from app.editions.queries import load_items  # noqa: F401 - re-exported for the review package
from app.editions.queries import model_for  # noqa: F401 - re-exported for the review package
from app.editions.queries import when_label  # noqa: F401 - re-exported for the review package
from app.errors import NotFound
from app.extensions import db
from app.models import AuditEvent
from app.models import EditionItem
from app.models import EditionStatus
from app.models import Quote
from app.models import Revision
from app.models import Story
from app.models import SubmissionStatus
from app.models import Tag
from app.models import Team
from app.models import Touchpoint
from app.models import story_tags
from app.newsletter.queries import is_starting
from app.review.diff import FieldChange
from app.review.diff import diff_snapshots

PER_PAGE = 50


def waiting_count() -> int:
    """Stories and quotes waiting for a decision: one COUNT query (it runs on every page)."""
    stories = (
        sa.select(sa.func.count(Story.id))
        .where(Story.status == SubmissionStatus.SUBMITTED)
        .scalar_subquery()
    )
    quotes = (
        sa.select(sa.func.count(Quote.id))
        .where(Quote.status == SubmissionStatus.SUBMITTED)
        .scalar_subquery()
    )
    return int(db.session.scalar(sa.select(stories + quotes)) or 0)


# -- the queue -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    kind: str | None = None
    team_id: int | None = None
    touchpoint_id: int | None = None
    tag: str | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.kind, self.team_id, self.touchpoint_id, self.tag))

    @property
    def includes_quotes(self) -> bool:
        """Touchpoints and tags belong to stories, so filtering by them leaves quotes out."""
        return self.kind in (None, "quote") and self.touchpoint_id is None and self.tag is None

    @property
    def includes_stories(self) -> bool:
        return self.kind in (None, "story")


@dataclass(frozen=True)
class QueuePage:
    items: list[Story | Quote]
    total: int
    page: int
    per_page: int

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total


def review_queue(filters: QueueFilters, *, page: int = 1, per_page: int = PER_PAGE) -> QueuePage:
    """Submitted stories and quotes, oldest first: one UNION for the page, then one eager load
    per kind, whatever the number of items."""
    page = max(page, 1)
    selects = []

    def submitted(model: type[Story] | type[Quote]) -> sa.Select:
        select = sa.select(
            sa.literal(model.kind, sa.String(8)).label("kind"), model.id, model.submitted_at
        ).where(model.status == SubmissionStatus.SUBMITTED)
        if filters.team_id is not None:
            select = select.where(model.team_id == filters.team_id)
        return select

    if filters.includes_stories:
        story_q = submitted(Story)
        if filters.touchpoint_id is not None:
            story_q = story_q.where(Story.touchpoint_id == filters.touchpoint_id)
        if filters.tag:
            story_q = story_q.where(Story.tags.any(Tag.name == filters.tag))
        selects.append(story_q)
    if filters.includes_quotes:
        selects.append(submitted(Quote))
    if not selects:
        return QueuePage([], 0, page, per_page)
    union = (selects[0] if len(selects) == 1 else sa.union_all(*selects)).subquery()
    rows = db.session.execute(
        sa.select(union.c.kind, union.c.id, sa.func.count().over().label("total"))
        .order_by(union.c.submitted_at, union.c.kind, union.c.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    total = rows[0].total if rows else 0
    refs = [(row.kind, row.id) for row in rows]
    return QueuePage(load_items(refs), total, page, per_page)


@dataclass(frozen=True)
class FilterOptions:
    teams: list[tuple[int, str]]
    touchpoints: list[tuple[int, str]]
    tags: list[str]


def filter_options() -> FilterOptions:
    """Choices for the queue filters: every team and touchpoint, and the tags in use in it."""
    teams = db.session.execute(sa.select(Team.id, Team.name).order_by(Team.name)).all()
    touchpoints = db.session.execute(
        sa.select(Touchpoint.id, Touchpoint.label).order_by(Touchpoint.position, Touchpoint.label)
    ).all()
    waiting_tags = (
        sa.select(story_tags.c.tag_id)
        .join(Story, Story.id == story_tags.c.story_id)
        .where(Story.status == SubmissionStatus.SUBMITTED)
    )
    tags = db.session.scalars(
        sa.select(Tag.name).where(Tag.id.in_(waiting_tags)).order_by(Tag.name)
    )
    return FilterOptions(
        [(row.id, row.name) for row in teams],
        [(row.id, row.label) for row in touchpoints],
        list(tags),
    )


# -- one item ------------------------------------------------------------------------------------


def get_item(kind: str, item_id: int) -> Story | Quote:
    """A story or quote with what the review page shows; NotFound for drafts nobody submitted."""
    model = model_for(kind)
    options: tuple[Any, ...] = STORY_LOAD if model is Story else QUOTE_LOAD
    item = db.session.scalars(
        sa.select(model)
        .where(model.id == item_id)
        .options(*options, selectinload(model.edition_items).joinedload(EditionItem.edition))
    ).unique().one_or_none()
    if item is None or item.submitted_at is None:
        raise NotFound(f"There is no such {model.kind} to review.")
    return item


@dataclass(frozen=True)
class HistoryEntry:
    """One line of an item's history: a state change, an edit or a curation step."""

    at: datetime
    actor_name: str
    action: str
    label: str
    note: str | None
    changes: list[FieldChange]


@dataclass(frozen=True)
class RevisionView:
    number: int
    at: datetime
    author_name: str
    by_editor: bool
    changes: list[FieldChange]


@dataclass(frozen=True)
class ItemHistory:
    entries: list[HistoryEntry]
    revisions: list[RevisionView]


ACTION_LABELS = {
    "create": "Created",
    "edit": "Edited by the author",
    "submit": "Submitted for review",
    "resubmit": "Resubmitted after changes",
    "approve": "Approved",
    "request_changes": "Changes requested",
    "reject": "Rejected",
    "publish": "Published",
    "withdraw": "Withdrawn",
    "editor_edit": "Edited by an editor",
}


def item_history(item: Story | Quote) -> ItemHistory:
    """The item's audit trail (oldest first) and its revisions, each with its diff."""
    events = db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.object_type == item.kind, AuditEvent.object_id == item.id)
        .options(joinedload(AuditEvent.actor))
        .order_by(AuditEvent.created_at, AuditEvent.id)
    ).all()
    revisions = db.session.scalars(
        sa.select(Revision)
        .where(Revision.object_type == item.kind, Revision.object_id == item.id)
        .options(joinedload(Revision.author))
        .order_by(Revision.number)
    ).all()
    diffs: dict[int, list[FieldChange]] = {}
    views = []
    previous: Revision | None = None
    for rev in revisions:
        changes = diff_snapshots(previous.data if previous else None, rev.data) if previous else []
        diffs[rev.number] = changes
        if previous is not None:
            views.append(RevisionView(
                rev.number,
                rev.created_at,
                rev.author.display_name if rev.author else "Someone",
                rev.author_id != item.author_id,
                changes,
            ))
        previous = rev
    entries = []
    for event in events:
        verb = event.action.split(".", 1)[-1]
        revision = event.details.get("revision")
        entries.append(HistoryEntry(
            at=event.created_at,
            actor_name=event.actor.display_name if event.actor else "The system",
            action=verb,
            label=_event_label(event),
            note=event.details.get("note"),
            changes=diffs.get(revision, []) if isinstance(revision, int) else [],
        ))
    return ItemHistory(entries, list(reversed(views)))


def _event_label(event: AuditEvent) -> str:
    verb = event.action.split(".", 1)[-1]
    details = event.details or {}
    number = details.get("edition")
    if verb == "add_to_edition":
        how = "automatically, when approved" if details.get("automatic") else "by hand"
        return f"Added to edition #{number} ({how})"
    if verb == "remove_from_edition":
        return f"Removed from edition #{number}, held in the approved pool"
    if verb == "move_to_later":
        target = details.get("to_edition")
        return f"Moved from edition #{number} to " + (
            f"edition #{target}" if target else "the next edition")
    if verb == "roll_over":
        return f"Rolled over to edition #{number} (edition #{details.get('from_edition')} skipped)"
    return ACTION_LABELS.get(verb, verb.replace("_", " ").capitalize())


# -- who changed it ------------------------------------------------------------------------------


def latest_event(
    object_type: str, object_id: int, actions: frozenset[str] | None = None
) -> AuditEvent | None:
    query = (
        sa.select(AuditEvent)
        .where(AuditEvent.object_type == object_type, AuditEvent.object_id == object_id)
        .options(joinedload(AuditEvent.actor))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(1)
    )
    if actions is not None:
        query = query.where(AuditEvent.action.in_(actions))
    return db.session.scalar(query)


_ALREADY = {
    "approve": "Already approved by {who} at {when}.",
    "reject": "Already rejected by {who} at {when}.",
    "request_changes": "{who} already asked the author for changes at {when}.",
    "withdraw": "{who} withdrew this {kind} at {when}.",
    "publish": "This {kind} was published at {when}.",
    "resubmit": "{who} resubmitted this {kind} at {when}.",
    "submit": "{who} submitted this {kind} at {when}.",
    "edit": "{who} edited this {kind} at {when}.",
    "editor_edit": "{who} edited this {kind} at {when}.",
}


# Actions that change the item's row (and so its version); placement in editions does not.
VERSIONED_ACTIONS = (
    "create", "edit", "submit", "resubmit", "approve", "request_changes", "reject", "publish",
    "withdraw", "editor_edit",
)  # fmt: skip


def conflict_message(kind: str, item_id: int) -> str:
    """Why a decision or edit on a stale page was refused: who did what, and when."""
    event = latest_event(kind, item_id, frozenset(f"{kind}.{a}" for a in VERSIONED_ACTIONS))
    if event is None:
        return f"This {kind} changed after you opened it. Reload it to see the latest version."
    verb = event.action.split(".", 1)[-1]
    who = event.actor.display_name if event.actor else "The system"
    template = _ALREADY.get(verb, "This {kind} was changed by {who} at {when}.")
    text = template.format(who=who, when=when_label(event.created_at), kind=kind)
    if verb in ("edit", "editor_edit", "resubmit", "submit"):
        text += " Reload it to see the latest version before you decide."
    return text


def current_entry(item: Story | Quote) -> EditionItem | None:
    """The item's place in an edition that has not gone out yet (open or being sent)."""
    return next(
        (e for e in item.edition_items
         if e.edition.status in (EditionStatus.DRAFT, EditionStatus.SCHEDULED,
                                 EditionStatus.SENDING)),
        None,
    )


def on_its_way(entry: EditionItem | None) -> bool:
    """In an edition being sent or handed to the sender: its email is (being) frozen, so an
    edit now would change the story page but not what everyone receives."""
    return entry is not None and (
        entry.edition.status == EditionStatus.SENDING or is_starting(entry.edition))
