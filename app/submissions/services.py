"""Writes for stories and quotes: Markdown rendered at save time, workflow moves.

Views, the CLI and tests call these with plain data (no request). Functions flush but never
commit: the caller owns the transaction, so the events they emit (app.events) are dispatched only
with the change. Every status change goes through
`app.workflow.transition_submission`, which stamps the times and writes the audit trail.

The content rules (limits, allowed values) are `app.submissions.rules`, checked once per save;
a save that breaks any raises `InvalidInput` with all of them, plus the problems only the form
could see (`form_errors`), so a form shows them together. Who may do what is checked here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app import audit
from app.errors import Conflict
from app.errors import IllegalTransition
from app.errors import PermissionDenied
from app.events import SubmissionSubmitted
from app.events import SubmissionWithdrawn
from app.events import emit
from app.extensions import db
from app.models import Quote
from app.models import QuoteSource
from app.models import Recognition
from app.models import Revision
from app.models import Story
from app.models import SubmissionStatus
from app.models import Tag
from app.models import User
from app.models import utcnow
from app.richtext import render_markdown
from app.submissions.rules import CheckedQuote
from app.submissions.rules import CheckedStory
from app.submissions.rules import InvalidInput
from app.submissions.rules import QuoteInput
from app.submissions.rules import StoryInput
from app.submissions.rules import StoryRefs
from app.submissions.rules import check_quote
from app.submissions.rules import check_story
from app.submissions.rules import quote_input
from app.submissions.rules import story_input
from app.workflow import transition_submission

S = SubmissionStatus
T = TypeVar("T", Story, Quote)

STALE = (
    "This {kind} was changed somewhere else after you opened it (another tab, or an editor). "
    "Reload it to see the latest version, then make your changes again."
)


def _valid(checked: CheckedStory | CheckedQuote, form_errors: dict[str, str] | None):
    """The cleaned input, or InvalidInput with the rules' errors and the form's (which win:
    a field the form could not read keeps that message)."""
    errors = {**checked.errors, **(form_errors or {})}
    if errors:
        raise InvalidInput(errors)
    return checked


# -- applying ------------------------------------------------------------------------------------


def _tags(names: list[str]) -> list[Tag]:
    """Existing tags by name; missing ones are created (a concurrent creator wins quietly)."""
    if not names:
        return []
    found = {t.name: t for t in db.session.scalars(sa.select(Tag).where(Tag.name.in_(names)))}
    for name in names:
        if name in found:
            continue
        try:
            with db.session.begin_nested():
                tag = Tag(name=name)
                db.session.add(tag)
        except IntegrityError:
            tag = db.session.scalars(sa.select(Tag).where(Tag.name == name)).one()
        found[name] = tag
    return [found[n] for n in names]


def _set_recognitions(story: Story, refs: StoryRefs, names: list[str]) -> None:
    """Replace the list, reusing rows for people already on it.

    Reuse matters: the unit of work inserts before it deletes, so dropping and re-adding the
    same colleague in one flush would hit the (story, user) unique constraint. A free-text name
    linked to an account becomes that account on the same row (so it keeps its place).
    """
    existing: dict[tuple[str, Any], Recognition] = {}
    for rec in story.recognitions:
        key = ("user", rec.user_id) if rec.user_id is not None else ("name", rec.name)
        existing.setdefault(key, rec)
    for name, user in refs.links.items():
        rec = existing.pop(("name", name), None)
        if rec is not None and ("user", user.id) not in existing:
            rec.name = None
            rec.user = user
            existing[("user", user.id)] = rec
    wanted = [("user", u.id, u) for u in refs.colleagues] + [("name", n, None) for n in names]
    result: list[Recognition] = []
    for position, (kind, value, user) in enumerate(wanted):
        rec = existing.pop((kind, value), None)
        if rec is None:
            rec = Recognition(user=user) if kind == "user" else Recognition(name=value)
        rec.position = position
        result.append(rec)
    story.recognitions = result


def apply_story(story: Story, checked: CheckedStory) -> None:
    """Store a checked story input (authors and editors). Sets nothing that did not change,
    so an edit that changes nothing writes nothing."""
    data, refs = checked.data, checked.refs
    tags = _tags(data.tags)  # first: creating a tag flushes, before the story has changed
    with db.session.no_autoflush:  # one versioned UPDATE at the end, not one per lazy load
        story.title = data.title
        if data.body_md != story.body_md or story.body_html is None:
            story.body_md = data.body_md
            story.body_html = render_markdown(data.body_md)  # stored; never re-rendered
        story.team = refs.team
        story.touchpoint = refs.touchpoint
        if [t.name for t in story.tags] != data.tags:
            story.tags = tags
        _set_recognitions(story, refs, data.colleague_names)
        story.customer_name = data.customer_name or None
        story.customer_organization = data.customer_organization or None
        story.customer_segment = data.customer_segment or None
        story.customer_consent = data.customer_consent
        if data.cover_image:
            story.cover_image = data.cover_image
        elif data.remove_cover:
            story.cover_image = None
        story.cover_image_alt = data.cover_image_alt if story.cover_image else None


def apply_quote(quote: Quote, checked: CheckedQuote) -> None:
    """Store a checked quote input (authors and editors)."""
    data = checked.data
    if data.text != quote.text or quote.text_html is None:
        quote.text = data.text
        quote.text_html = render_markdown(data.text)
    quote.source = QuoteSource(data.source)
    quote.received_on = data.received_on  # type: ignore[assignment]
    quote.nps_score = data.nps_score
    quote.anonymous = data.anonymous
    quote.customer_name = data.customer_name or None
    quote.customer_role = data.customer_role or None
    quote.customer_organization = data.customer_organization or None
    quote.customer_consent = data.customer_consent
    quote.story_id = data.story_id


def snapshot(item: Story | Quote) -> dict[str, Any]:
    """The author-visible content of an item, as stored in a Revision."""
    if isinstance(item, Story):
        return {
            "title": item.title,
            "body_md": item.body_md,
            "team": item.team.name if item.team else None,
            "touchpoint": item.touchpoint.label if item.touchpoint else None,
            "tags": [t.name for t in item.tags],
            "colleagues": [r.display_name for r in item.recognitions],
            "customer_name": item.customer_name,
            "customer_organization": item.customer_organization,
            "customer_segment": item.customer_segment,
            "customer_consent": item.customer_consent,
            "cover_image": item.cover_image,
            "cover_image_alt": item.cover_image_alt,
        }
    return {
        "text": item.text,
        "source": item.source.value,
        "nps_score": item.nps_score,
        "received_on": item.received_on.isoformat(),
        "anonymous": item.anonymous,
        "customer_name": item.customer_name,
        "customer_role": item.customer_role,
        "customer_organization": item.customer_organization,
        "customer_consent": item.customer_consent,
        "story_id": item.story_id,
    }


def _record_revision(item: Story | Quote, actor: User) -> None:
    """Snapshot what editors review, so they can see what changed since they last looked.

    Author revisions are marked `author_notified`: there is nothing to tell authors about
    their own edits (the flag exists for editor changes announced with "published").
    """
    last = db.session.scalar(
        sa.select(sa.func.max(Revision.number)).where(
            Revision.object_type == item.kind, Revision.object_id == item.id
        )
    )
    db.session.add(
        Revision(
            object_type=item.kind,
            object_id=item.id,
            number=(last or 0) + 1,
            data=snapshot(item),
            author_id=actor.id,
            author_notified=True,
        )
    )


def _flush(item: Story | Quote) -> None:
    try:
        db.session.flush()
    except StaleDataError:
        raise Conflict(STALE.format(kind=item.kind)) from None


def _require_active(actor: User) -> None:
    if not actor.is_active_user:
        raise PermissionDenied("Your account is deactivated.")


def _require_author_in_hand(item: Story | Quote, actor: User, verb: str, refused: str) -> None:
    """Only its active author may change an item, and only while it is still theirs to change."""
    _require_active(actor)
    if item.author_id != actor.id:
        raise PermissionDenied(f"Only the person who shared this {item.kind} can {verb} it.")
    if not item.is_editable_by_author:
        raise IllegalTransition(
            f"This {item.kind} is {item.status.label.lower()}, so it {refused}."
        )


def _check_can_edit(item: Story | Quote, actor: User, expected_version: int) -> None:
    _require_author_in_hand(item, actor, "edit", "can no longer be edited")
    if item.version != expected_version:
        raise Conflict(STALE.format(kind=item.kind))


def _after_save(item: Story | Quote, actor: User, *, submit: bool, created: bool,
                changed: bool) -> None:
    """Audit, submit if asked (resubmit after changes requested), flush, snapshot.

    `.edit` is recorded only when the content changed: saving or submitting what is already
    stored is not an edit, and editors read "Edited by the author" in the item's history."""
    if created:
        _flush(item)  # the audit event needs the id
        audit.record(actor, f"{item.kind}.create", item)
    elif changed:
        audit.record(actor, f"{item.kind}.edit", item)
    if submit and item.status in (S.DRAFT, S.CHANGES_REQUESTED):
        _submit(item, actor)
    else:
        _flush(item)
        if item.submitted_at is not None:
            _record_revision(item, actor)
            _flush(item)


def _submit(item: Story | Quote, actor: User) -> None:
    """Send a draft (or an item with requested changes) to the editors: transition, event and
    the revision they compare later edits against."""
    submitted_from = item.status
    transition_submission(item, S.SUBMITTED, actor=actor)
    _flush(item)
    emit(SubmissionSubmitted(item_kind=item.kind, item_id=item.id, author_id=item.author_id,
                             resubmitted=submitted_from == S.CHANGES_REQUESTED))
    _record_revision(item, actor)
    _flush(item)


# -- public API ----------------------------------------------------------------------------------


def create_story(
    author: User, data: StoryInput, *, submit: bool, form_errors: dict[str, str] | None = None
) -> Story:
    """A new story as a draft, or straight into review with `submit=True`."""
    _require_active(author)
    checked = _valid(check_story(data, author, None), form_errors)
    story = Story(author=author, status=S.DRAFT, version=1)
    return _store(story, author, lambda: apply_story(story, checked), submit, created=True)


def update_story(
    story: Story,
    actor: User,
    data: StoryInput,
    *,
    expected_version: int,
    submit: bool,
    form_errors: dict[str, str] | None = None,
) -> Story:
    """The author edits while draft / submitted / changes requested.

    Editing a submitted story keeps it in review; `submit=True` sends a draft or a story with
    requested changes (back) to the editors. A stale `expected_version` raises Conflict.
    """
    _check_can_edit(story, actor, expected_version)
    checked = _valid(check_story(data, actor, story), form_errors)
    return _store(story, actor, lambda: apply_story(story, checked), submit, created=False)


def create_quote(
    author: User, data: QuoteInput, *, submit: bool, form_errors: dict[str, str] | None = None
) -> Quote:
    _require_active(author)
    checked = _valid(check_quote(data, author, None), form_errors)
    quote = Quote(author=author, team=author.team, status=S.DRAFT, version=1)
    return _store(quote, author, lambda: apply_quote(quote, checked), submit, created=True)


def update_quote(
    quote: Quote,
    actor: User,
    data: QuoteInput,
    *,
    expected_version: int,
    submit: bool,
    form_errors: dict[str, str] | None = None,
) -> Quote:
    """Same rules as `update_story`."""
    _check_can_edit(quote, actor, expected_version)
    checked = _valid(check_quote(data, actor, quote), form_errors)
    return _store(quote, actor, lambda: apply_quote(quote, checked), submit, created=False)


def _store(item: T, actor: User, apply: Callable[[], None], submit: bool, *, created: bool) -> T:
    """Apply the checked input, then audit, submit if asked and snapshot (`_after_save`)."""
    before = None if created else snapshot(item)
    apply()
    item.updated_at = utcnow()  # always an UPDATE, so the version moves even for tag-only edits
    if created:
        db.session.add(item)
    changed = created or snapshot(item) != before
    _after_save(item, actor, submit=submit, created=created, changed=changed)
    return item


def submit(item: Story | Quote, actor: User, *, expected_version: int) -> Story | Quote:
    """The author sends a draft (or an item with requested changes) as it is stored: "Submit"
    on its own page. The same content rules as the form's "Submit" (InvalidInput lists what
    to fix), and no `.edit` audit event: nothing was edited."""
    _check_can_edit(item, actor, expected_version)
    if item.status not in (S.DRAFT, S.CHANGES_REQUESTED):
        raise IllegalTransition(
            f"This {item.kind} is {item.status.label.lower()}, so there is nothing to submit."
        )
    if isinstance(item, Story):
        _valid(check_story(story_input(item), actor, item), None)
    else:
        _valid(check_quote(quote_input(item), actor, item), None)
    item.updated_at = utcnow()
    _submit(item, actor)
    return item


def withdraw(item: Story | Quote, actor: User) -> Story | Quote:
    """The author takes a draft or an item under review back; it never reaches the newsletter.
    SubmissionWithdrawn is emitted with the change (e.g. webhooks report the status change)."""
    _require_author_in_hand(item, actor, "withdraw", "can't be withdrawn")
    previous = item.status
    transition_submission(item, S.WITHDRAWN, actor=actor)
    item.updated_at = utcnow()
    _flush(item)
    emit(SubmissionWithdrawn(item_kind=item.kind, item_id=item.id, actor_id=actor.id,
                             previous_status=previous.value))
    return item
