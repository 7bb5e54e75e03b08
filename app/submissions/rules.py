"""The content rules for stories and quotes, for authors and editors alike.

Lengths, colleagues (accounts or free-text names), tags, team, touchpoint, the cover picture and
its description, how the customer is named, the linked story: `check_story` / `check_quote`
clean what was typed, look up what it refers to (one query per kind of reference) and report
every broken rule at once, by form field name, so a form can show them together. The author's
services (`app.submissions.services`) and the editor's edit (`app.review.services`) both save
through them, once per save; nothing else re-implements a limit.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import date
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.errors import ValidationError
from app.extensions import db
from app.models import Quote
from app.models import QuoteSource
from app.models import Story
from app.models import SubmissionStatus
from app.models import Team
from app.models import Touchpoint
from app.models import User
from app.numbers import bounded_int
from app.settings import get_setting
from app.submissions import uploads
from app.text import clean_text

TITLE_MIN, TITLE_MAX = 3, 150
BODY_MIN, BODY_MAX = 20, 20_000
QUOTE_MIN, QUOTE_MAX = 5, 2_000
MAX_COLLEAGUES = 10
MAX_TAGS = 10
TAG_MAX = 40
NAME_MAX = 120  # people, organizations, roles, segments: the column size
ALT_MAX = 200
NPS_MIN, NPS_MAX = 0, 10


class InvalidInput(ValidationError):
    """One or more fields break a rule; `errors` maps each form field name to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(next(iter(errors.values())))
        self.errors = errors


# -- what the forms collect ------------------------------------------------------------------------


@dataclass
class StoryInput:
    """Everything the story form collects, as plain values.

    `cover_image` is the name of an image already stored by `uploads.store_cover_image`
    (None keeps the current cover); `remove_cover` drops it. `name_links` maps a free-text
    colleague name to the account an editor says it is (the recognition keeps its place).
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
    name_links: dict[str, int] = field(default_factory=dict)


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


def story_input(story: Story) -> StoryInput:
    """The stored story as form input: what an edit starts from (change a field with
    `dataclasses.replace`)."""
    return StoryInput(
        title=story.title,
        body_md=story.body_md,
        colleague_ids=[r.user_id for r in story.recognitions if r.user_id is not None],
        colleague_names=[r.name for r in story.recognitions if r.name],
        team_id=story.team_id,
        touchpoint_id=story.touchpoint_id,
        tags=[t.name for t in story.tags],
        customer_name=story.customer_name or "",
        customer_organization=story.customer_organization or "",
        customer_segment=story.customer_segment or "",
        customer_consent=story.customer_consent,
        cover_image_alt=story.cover_image_alt or "",
    )


def quote_input(quote: Quote) -> QuoteInput:
    """The stored quote as form input."""
    return QuoteInput(
        text=quote.text,
        source=quote.source,
        received_on=quote.received_on,
        anonymous=quote.anonymous,
        customer_name=quote.customer_name or "",
        customer_role=quote.customer_role or "",
        customer_organization=quote.customer_organization or "",
        customer_consent=quote.customer_consent,
        nps_score=quote.nps_score,
        story_id=quote.story_id,
    )


# -- typed text ------------------------------------------------------------------------------------


def split_names(raw: str | None) -> list[str]:
    """Free-text colleague names, one per line (names may contain commas)."""
    return [name for line in (raw or "").splitlines() if (name := clean_text(line, name=True))]


def split_tags(raw: str | None) -> list[str]:
    """Tags as typed in one field, separated by commas."""
    return [tag for part in (raw or "").split(",") if (tag := clean_text(part))]


def normalize_tag(name: str) -> str:
    """"  #Going  the Extra Mile " -> "going the extra mile": one tag however it is typed."""
    return " ".join(clean_text(name).lstrip("#").split()).lower()


def org_today() -> date:
    return datetime.now(ZoneInfo(get_setting("timezone"))).date()


def latest_today(user: User) -> date:
    """"Today" where it is latest for this person: the org's zone or their own, if set."""
    today = org_today()
    if user.timezone:
        with contextlib.suppress(KeyError, ValueError):  # unknown zone: the org's day
            today = max(today, datetime.now(ZoneInfo(user.timezone)).date())
    return today


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


def _names(errors: dict[str, str], labels: dict[str, str], values: dict[str, str]) -> dict:
    """Clean the customer/person fields (`labels`: field -> how a message names it)."""
    cleaned = {key: clean_text(values[key]) for key in labels}
    for key, value in cleaned.items():
        if problem := _length(value, NAME_MAX, labels[key]):
            errors[key] = problem
    return cleaned


# -- stories ---------------------------------------------------------------------------------------


@dataclass
class StoryRefs:
    """What a checked story refers to, loaded once by `check_story`."""

    colleagues: list[User]
    team: Team | None
    touchpoint: Touchpoint | None
    links: dict[str, User] = field(default_factory=dict)  # free-text name -> its account


class CheckedStory(NamedTuple):
    data: StoryInput  # cleaned
    refs: StoryRefs
    errors: dict[str, str]


def _text_rules(title: str, body: str, errors: dict[str, str]) -> None:
    if len(title) < TITLE_MIN:
        errors["title"] = f"Give your story a title of at least {TITLE_MIN} characters."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep the title to {TITLE_MAX} characters (it has {len(title)})."
    if len(body.strip()) < BODY_MIN:
        errors["body"] = f"Tell us a little more: the story needs at least {BODY_MIN} characters."
    elif len(body) > BODY_MAX:
        errors["body"] = (
            f"The story is {len(body):,} characters long; please keep it under {BODY_MAX:,}."
        )


def _colleague_rules(
    data: StoryInput, story: Story | None, errors: dict[str, str]
) -> tuple[list[int], list[str], dict[str, User], dict[int, User]]:
    """Accounts (active, or already on this story), free-text names, and names an editor
    linked to an account (which then count as that account, in the name's place)."""
    ids = list(dict.fromkeys(bounded_int(i) for i in data.colleague_ids))
    names = list(dict.fromkeys(n for x in data.colleague_names if (n := clean_text(x, name=True))))
    links = {
        name: bounded_int(user_id)
        for raw, user_id in data.name_links.items()
        if (name := clean_text(raw, name=True)) in names and user_id is not None
    }
    wanted = {*ids, *links.values()}
    users = (
        {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(wanted)))}
        if wanted
        else {}
    )
    already = {r.user_id for r in story.recognitions} if story is not None else set()
    unusable = [
        i for i in ids if i not in users or not (users[i].is_active_user or i in already)
    ]
    if any(i not in users or not users[i].is_active_user for i in links.values()):
        errors["colleague_names"] = "Link a name only to a colleague with an active account."
    if unusable:
        errors["colleagues"] = (
            "Some colleagues you picked no longer have an active account. Remove them, or add "
            "them by name under “Colleagues without an account”."
        )
    linked = {name: users[i] for name, i in links.items() if i in users}
    names = [n for n in names if n not in linked]
    ids += [u.id for u in linked.values() if u.id not in ids]
    if len(ids) + len(names) > MAX_COLLEAGUES:
        errors.setdefault("colleagues", (
            f"You can recognize up to {MAX_COLLEAGUES} colleagues in one story "
            f"(you added {len(ids) + len(names)})."
        ))
    long_name = next((n for n in names if len(n) > NAME_MAX), None)
    if long_name:
        errors["colleague_names"] = (
            f"A colleague's name can be at most {NAME_MAX} characters (one has {len(long_name)})."
        )
    return ids, names, linked, users


def _tag_rules(raw: list[str], errors: dict[str, str]) -> list[str]:
    tags = list(dict.fromkeys(t for t in (normalize_tag(x) for x in raw) if t))
    tag_problem = next((p for t in tags if (p := _tag_problem(t))), None)
    if tag_problem:
        errors["tags"] = tag_problem
    elif len(tags) > MAX_TAGS:
        errors["tags"] = f"Add at most {MAX_TAGS} tags (you added {len(tags)})."
    return tags


def _place_rules(
    data: StoryInput, story: Story | None, errors: dict[str, str]
) -> tuple[Team | None, Touchpoint | None]:
    team = db.session.get(Team, data.team_id) if data.team_id else None
    if data.team_id and team is None:
        errors["team"] = "That team no longer exists; please pick another."
    touchpoint = db.session.get(Touchpoint, data.touchpoint_id) if data.touchpoint_id else None
    keeps_touchpoint = story is not None and story.touchpoint_id == data.touchpoint_id
    if data.touchpoint_id and (
        touchpoint is None or not (touchpoint.is_active or keeps_touchpoint)
    ):
        errors["touchpoint"] = "That touchpoint is no longer available; please pick another."
    return team, touchpoint


def _cover_rules(data: StoryInput, story: Story | None, errors: dict[str, str]) -> tuple[bool, str]:
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
    return bool(has_cover), alt


STORY_PEOPLE = {
    "customer_name": "The customer's name",
    "customer_organization": "The organization",
    "customer_segment": "The description",
}


def check_story(data: StoryInput, author: User, story: Story | None = None) -> CheckedStory:
    """Clean `data` for `author`'s story (None: a new one) and report every broken rule."""
    errors: dict[str, str] = {}
    title = clean_text(data.title)
    body = clean_text(data.body_md, multiline=True)
    _text_rules(title, body, errors)
    ids, names, linked, users = _colleague_rules(data, story, errors)
    tags = _tag_rules(data.tags, errors)
    team, touchpoint = _place_rules(data, story, errors)
    customer = _names(errors, STORY_PEOPLE, vars(data))
    has_cover, alt = _cover_rules(data, story, errors)
    clean = replace(
        data,
        title=title,
        body_md=body,
        colleague_ids=ids,
        colleague_names=names,
        tags=tags,
        cover_image_alt=alt if has_cover else "",
        name_links={name: user.id for name, user in linked.items()},
        **customer,
    )
    refs = StoryRefs([users[i] for i in ids if i in users], team, touchpoint, linked)
    return CheckedStory(clean, refs, errors)


# -- quotes ----------------------------------------------------------------------------------------


class CheckedQuote(NamedTuple):
    data: QuoteInput  # cleaned
    errors: dict[str, str]


QUOTE_PEOPLE = {
    "customer_name": "The name",
    "customer_role": "The role",
    "customer_organization": "The organization",
}


def check_quote(data: QuoteInput, author: User, quote: Quote | None = None) -> CheckedQuote:
    """Clean `data` for `author`'s quote (None: a new one) and report every broken rule."""
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
    people = _names(errors, QUOTE_PEOPLE, vars(data))
    if data.story_id is not None:
        linked = db.session.get(Story, data.story_id)
        unchanged = quote is not None and quote.story_id == data.story_id
        if linked is None or not (unchanged or _may_link(linked, author)):
            errors["story_id"] = "Link one of your own stories or a published story."
    return CheckedQuote(replace(data, text=text, source=source, **people), errors)


def _may_link(story: Story, author: User) -> bool:
    if story.status == SubmissionStatus.PUBLISHED:
        return True
    return story.author_id == author.id and story.status != SubmissionStatus.WITHDRAWN
