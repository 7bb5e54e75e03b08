"""Writes for stories and quotes: validation, Markdown rendered at save time, workflow moves.

Views, the CLI and tests call these with plain data (no request). Functions flush but never
commit: the caller owns the transaction, so notifications queued with `send_email_after_commit`
go out only with the change. Every status change goes through
`app.workflow.transition_submission`, which stamps the times and writes the audit trail.

All the rules live here (limits, allowed values, who may do what), and `story_errors` /
`quote_errors` report every broken rule at once so a form can show them together.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app import audit
from app.errors import Conflict, IllegalTransition, PermissionDenied, ValidationError
from app.extensions import db
from app.models import (
    Quote,
    QuoteSource,
    Recognition,
    Revision,
    Story,
    SubmissionStatus,
    Tag,
    Team,
    Touchpoint,
    User,
    utcnow,
)
from app.numbers import bounded_int
from app.richtext import render_markdown
from app.submissions import uploads
from app.text import clean_text
from app.workflow import transition_submission

S = SubmissionStatus

TITLE_MIN, TITLE_MAX = 3, 150
BODY_MIN, BODY_MAX = 20, 20_000
QUOTE_MIN, QUOTE_MAX = 5, 2_000
MAX_COLLEAGUES = 10
MAX_TAGS = 10
TAG_MAX = 40
NAME_MAX = 120  # people, organizations, roles, segments: the column size
ALT_MAX = 200
NPS_MIN, NPS_MAX = 0, 10

STALE = (
    "This {kind} was changed somewhere else after you opened it (another tab, or an editor). "
    "Reload it to see the latest version, then make your changes again."
)


class InvalidInput(ValidationError):
    """One or more fields break a rule; `errors` maps each form field name to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(next(iter(errors.values())))
        self.errors = errors


def split_names(raw: str | None) -> list[str]:
    """Free-text colleague names, one per line (names may contain commas)."""
    return [name for line in (raw or "").splitlines() if (name := clean_text(line, name=True))]


def split_tags(raw: str | None) -> list[str]:
    """Tags as typed in one field, separated by commas."""
    return [tag for part in (raw or "").split(",") if (tag := clean_text(part))]


def normalize_tag(name: str) -> str:
    """"  #Going  the Extra Mile " -> "going the extra mile": one tag however it is typed."""
    return " ".join(clean_text(name).lstrip("#").split()).lower()


def _tag_problem(tag: str) -> str | None:
    if len(tag) > TAG_MAX:
        return f"Tags can be at most {TAG_MAX} characters; “{tag[:20]}…” is {len(tag)}."
    if "/" in tag or "\\" in tag:
        return f"Tags can't contain slashes (“{tag}”)."
    if not any(ch.isalnum() for ch in tag):
        return f"Tags need at least one letter or number (“{tag}”)."
    return None


def _length(value: str, maximum: int, label: str) -> str | None:
    if len(value) > maximum:
        return f"{label} can be at most {maximum} characters (it has {len(value)})."
    return None


# -- inputs --------------------------------------------------------------------------------------


@dataclass
class StoryInput:
    """Everything the story form collects, as plain values.

    `cover_image` is the name of an image already stored by `uploads.store_cover_image`
    (None keeps the current cover); `remove_cover` drops it.
    """

    title: str
    body_md: str
    colleague_ids: list[int] = field(default_factory=list)
    colleague_names: list[str] = field(default_factory=list)
    team_id: int | None = None
    touchpoint_id: int | None = None
    tags: list[str] = field(default_factory=list)
    customer_name: str = ""
    customer_organization: str = ""
    customer_segment: str = ""
    customer_consent: bool = False
    cover_image: str | None = None
    remove_cover: bool = False
    cover_image_alt: str = ""


@dataclass
class QuoteInput:
    text: str
    source: QuoteSource | str | None
    received_on: date | None
    anonymous: bool = False
    customer_name: str = ""
    customer_role: str = ""
    customer_organization: str = ""
    customer_consent: bool = False
    nps_score: int | None = None
    story_id: int | None = None


@dataclass
class _StoryRefs:
    colleagues: list[User]
    team: Team | None
    touchpoint: Touchpoint | None


def org_today() -> date:
    from app.settings import get_setting

    return datetime.now(ZoneInfo(get_setting("timezone"))).date()


def latest_today(user: User) -> date:
    """"Today" where it is latest for this person: the org's zone or their own, if set."""
    today = org_today()
    if user.timezone:
        with contextlib.suppress(KeyError, ValueError):  # unknown zone: the org's day
            today = max(today, datetime.now(ZoneInfo(user.timezone)).date())
    return today


# -- validation ----------------------------------------------------------------------------------


def _check_story(
    data: StoryInput, author: User, story: Story | None
) -> tuple[StoryInput, _StoryRefs, dict[str, str]]:
    errors: dict[str, str] = {}
    title = clean_text(data.title)
    body = clean_text(data.body_md, multiline=True)
    if len(title) < TITLE_MIN:
        errors["title"] = f"Give your story a title of at least {TITLE_MIN} characters."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep the title to {TITLE_MAX} characters (it has {len(title)})."
    if len(body.strip()) < BODY_MIN:
        errors["body"] = (
            f"Tell us a little more: the story needs at least {BODY_MIN} characters."
        )
    elif len(body) > BODY_MAX:
        errors["body"] = (
            f"The story is {len(body):,} characters long; please keep it under {BODY_MAX:,}."
        )

    # Colleagues: accounts (active, or already on this story) and free-text names.
    ids = list(dict.fromkeys(bounded_int(i) for i in data.colleague_ids))
    names = list(dict.fromkeys(n for x in data.colleague_names if (n := clean_text(x, name=True))))
    users = (
        {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))}
        if ids
        else {}
    )
    already = {r.user_id for r in story.recognitions} if story is not None else set()
    unusable = [
        i for i in ids if i not in users or not (users[i].is_active_user or i in already)
    ]
    if unusable:
        errors["colleagues"] = (
            "Some colleagues you picked no longer have an active account. Remove them, or add "
            "them by name under “Colleagues without an account”."
        )
    elif len(ids) + len(names) > MAX_COLLEAGUES:
        errors["colleagues"] = (
            f"You can recognize up to {MAX_COLLEAGUES} colleagues in one story "
            f"(you added {len(ids) + len(names)})."
        )
    long_name = next((n for n in names if len(n) > NAME_MAX), None)
    if long_name:
        errors["colleague_names"] = (
            f"A colleague's name can be at most {NAME_MAX} characters (one has {len(long_name)})."
        )

    tags = list(dict.fromkeys(t for t in (normalize_tag(x) for x in data.tags) if t))
    tag_problem = next((p for t in tags if (p := _tag_problem(t))), None)
    if tag_problem:
        errors["tags"] = tag_problem
    elif len(tags) > MAX_TAGS:
        errors["tags"] = f"Add at most {MAX_TAGS} tags (you added {len(tags)})."

    team = db.session.get(Team, data.team_id) if data.team_id else None
    if data.team_id and team is None:
        errors["team"] = "That team no longer exists; please pick another."
    touchpoint = db.session.get(Touchpoint, data.touchpoint_id) if data.touchpoint_id else None
    keeps_touchpoint = story is not None and story.touchpoint_id == data.touchpoint_id
    if data.touchpoint_id and (
        touchpoint is None or not (touchpoint.is_active or keeps_touchpoint)
    ):
        errors["touchpoint"] = "That touchpoint is no longer available; please pick another."

    customer = {
        "customer_name": clean_text(data.customer_name),
        "customer_organization": clean_text(data.customer_organization),
        "customer_segment": clean_text(data.customer_segment),
    }
    labels = {
        "customer_name": "The customer's name",
        "customer_organization": "The organization",
        "customer_segment": "The description",
    }
    for key, value in customer.items():
        if problem := _length(value, NAME_MAX, labels[key]):
            errors[key] = problem

    cover = data.cover_image
    if cover is not None and uploads.path_for(cover) is None:
        errors["cover_image"] = "That picture is no longer available; please choose it again."
    has_cover = bool(cover) or (story is not None and story.cover_image and not data.remove_cover)
    alt = clean_text(data.cover_image_alt)
    if has_cover and not alt:
        errors["cover_image_alt"] = (
            "Describe the picture in a few words, for colleagues who use a screen reader."
        )
    elif problem := _length(alt, ALT_MAX, "The description of the picture"):
        errors["cover_image_alt"] = problem

    clean = replace(
        data,
        title=title,
        body_md=body,
        colleague_ids=ids,
        colleague_names=names,
        tags=tags,
        cover_image_alt=alt if has_cover else "",
        **customer,
    )
    return clean, _StoryRefs([users[i] for i in ids if i in users], team, touchpoint), errors


def story_errors(data: StoryInput, author: User, story: Story | None = None) -> dict[str, str]:
    """Every rule `data` breaks, by form field (empty when it can be saved)."""
    return _check_story(data, author, story)[2]


def _check_quote(
    data: QuoteInput, author: User, quote: Quote | None
) -> tuple[QuoteInput, dict[str, str]]:
    errors: dict[str, str] = {}
    text = clean_text(data.text, multiline=True)
    if len(text.strip()) < QUOTE_MIN:
        errors["text"] = f"The quote needs at least {QUOTE_MIN} characters."
    elif len(text) > QUOTE_MAX:
        errors["text"] = (
            f"The quote is {len(text):,} characters long; please keep it under {QUOTE_MAX:,}."
        )
    try:
        source = QuoteSource(data.source) if data.source else None
    except ValueError:
        source = None
    if source is None:
        errors["source"] = "Choose where the quote came from."
    nps = data.nps_score
    if nps is not None and (isinstance(nps, bool) or not NPS_MIN <= nps <= NPS_MAX):
        errors["nps_score"] = f"The NPS score is a whole number from {NPS_MIN} to {NPS_MAX}."
    if data.received_on is None:
        errors["received_on"] = "Enter the date you received the quote."
    elif data.received_on > latest_today(author):
        errors["received_on"] = "The date can't be in the future."
    people = {
        "customer_name": clean_text(data.customer_name),
        "customer_role": clean_text(data.customer_role),
        "customer_organization": clean_text(data.customer_organization),
    }
    labels = {
        "customer_name": "The name",
        "customer_role": "The role",
        "customer_organization": "The organization",
    }
    for key, value in people.items():
        if problem := _length(value, NAME_MAX, labels[key]):
            errors[key] = problem
    if data.story_id is not None:
        linked = db.session.get(Story, data.story_id)
        unchanged = quote is not None and quote.story_id == data.story_id
        if linked is None or not (unchanged or _may_link(linked, author)):
            errors["story_id"] = "Link one of your own stories or a published story."
    clean = replace(data, text=text, source=source, **people)
    return clean, errors


def _may_link(story: Story, author: User) -> bool:
    if story.status == S.PUBLISHED:
        return True
    return story.author_id == author.id and story.status != S.WITHDRAWN


def quote_errors(data: QuoteInput, author: User, quote: Quote | None = None) -> dict[str, str]:
    """Every rule `data` breaks, by form field (empty when it can be saved)."""
    return _check_quote(data, author, quote)[1]


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


def _set_recognitions(story: Story, users: list[User], names: list[str]) -> None:
    """Replace the list, reusing rows for people already on it.

    Reuse matters: the unit of work inserts before it deletes, so dropping and re-adding the
    same colleague in one flush would hit the (story, user) unique constraint.
    """
    existing: dict[tuple[str, Any], Recognition] = {}
    for rec in story.recognitions:
        key = ("user", rec.user_id) if rec.user_id is not None else ("name", rec.name)
        existing.setdefault(key, rec)
    wanted = [("user", u.id, u) for u in users] + [("name", n, None) for n in names]
    result: list[Recognition] = []
    for position, (kind, value, user) in enumerate(wanted):
        rec = existing.pop((kind, value), None)
        if rec is None:
            rec = Recognition(user=user) if kind == "user" else Recognition(name=value)
        rec.position = position
        result.append(rec)
    story.recognitions = result


def _apply_story(story: Story, data: StoryInput, refs: _StoryRefs) -> None:
    story.title = data.title
    story.body_md = data.body_md
    story.body_html = render_markdown(data.body_md)  # stored; never re-rendered per request
    story.team = refs.team
    story.touchpoint = refs.touchpoint
    story.tags = _tags(data.tags)
    _set_recognitions(story, refs.colleagues, data.colleague_names)
    story.customer_name = data.customer_name or None
    story.customer_organization = data.customer_organization or None
    story.customer_segment = data.customer_segment or None
    story.customer_consent = data.customer_consent
    if data.cover_image:
        story.cover_image = data.cover_image
    elif data.remove_cover:
        story.cover_image = None
    story.cover_image_alt = data.cover_image_alt if story.cover_image else None
    story.updated_at = utcnow()  # always an UPDATE, so the version moves even for tag-only edits


def _apply_quote(quote: Quote, data: QuoteInput) -> None:
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
    quote.updated_at = utcnow()


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


def _check_can_edit(item: Story | Quote, actor: User, expected_version: int) -> None:
    _require_active(actor)
    if item.author_id != actor.id:
        raise PermissionDenied(f"Only the person who shared this {item.kind} can edit it.")
    if not item.is_editable_by_author:
        raise IllegalTransition(
            f"This {item.kind} is {item.status.label.lower()}, so it can no longer be edited."
        )
    if item.version != expected_version:
        raise Conflict(STALE.format(kind=item.kind))


def _after_save(item: Story | Quote, actor: User, *, submit: bool, created: bool) -> None:
    """Audit, submit if asked (resubmit after changes requested), flush, snapshot."""
    if created:
        _flush(item)  # the audit event needs the id
    audit.record(actor, f"{item.kind}.{'create' if created else 'edit'}", item)
    if submit and item.status in (S.DRAFT, S.CHANGES_REQUESTED):
        transition_submission(item, S.SUBMITTED, actor=actor)
    _flush(item)
    if item.submitted_at is not None:
        _record_revision(item, actor)
        _flush(item)


# -- public API ----------------------------------------------------------------------------------


def create_story(author: User, data: StoryInput, *, submit: bool) -> Story:
    """A new story as a draft, or straight into review with `submit=True`."""
    _require_active(author)
    clean, refs, errors = _check_story(data, author, None)
    if errors:
        raise InvalidInput(errors)
    story = Story(author=author, status=S.DRAFT, version=1)
    _apply_story(story, clean, refs)
    db.session.add(story)
    _after_save(story, author, submit=submit, created=True)
    return story


def update_story(
    story: Story, actor: User, data: StoryInput, *, expected_version: int, submit: bool
) -> Story:
    """The author edits while draft / submitted / changes requested.

    Editing a submitted story keeps it in review; `submit=True` sends a draft or a story with
    requested changes (back) to the editors. A stale `expected_version` raises Conflict.
    """
    _check_can_edit(story, actor, expected_version)
    clean, refs, errors = _check_story(data, actor, story)
    if errors:
        raise InvalidInput(errors)
    _apply_story(story, clean, refs)
    _after_save(story, actor, submit=submit, created=False)
    return story


def create_quote(author: User, data: QuoteInput, *, submit: bool) -> Quote:
    _require_active(author)
    clean, errors = _check_quote(data, author, None)
    if errors:
        raise InvalidInput(errors)
    quote = Quote(author=author, team=author.team, status=S.DRAFT, version=1)
    _apply_quote(quote, clean)
    db.session.add(quote)
    _after_save(quote, author, submit=submit, created=True)
    return quote


def update_quote(
    quote: Quote, actor: User, data: QuoteInput, *, expected_version: int, submit: bool
) -> Quote:
    """Same rules as `update_story`."""
    _check_can_edit(quote, actor, expected_version)
    clean, errors = _check_quote(data, actor, quote)
    if errors:
        raise InvalidInput(errors)
    _apply_quote(quote, clean)
    _after_save(quote, actor, submit=submit, created=False)
    return quote


def withdraw(item: Story | Quote, actor: User) -> Story | Quote:
    """The author takes a draft or an item under review back; it never reaches the newsletter."""
    _require_active(actor)
    if item.author_id != actor.id:
        raise PermissionDenied(f"Only the person who shared this {item.kind} can withdraw it.")
    if not item.is_editable_by_author:
        raise IllegalTransition(
            f"This {item.kind} is {item.status.label.lower()}, so it can't be withdrawn."
        )
    transition_submission(item, S.WITHDRAWN, actor=actor)
    item.updated_at = utcnow()
    _flush(item)
    return item
