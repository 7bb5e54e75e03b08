"""Factories for test data: small functions with sensible defaults, overridable by keyword.

They write through the session (flush, no commit) and set statuses directly, so a test can start
from any point of the workflow without walking it.
"""

from __future__ import annotations

import itertools
from datetime import date
from datetime import timedelta

from werkzeug.security import generate_password_hash

from app.extensions import db
from app.models import Edition
from app.models import EditionItem
from app.models import EditionStatus
from app.models import Quote
from app.models import QuoteSource
from app.models import Recognition
from app.models import Role
from app.models import Story
from app.models import SubmissionStatus
from app.models import Tag
from app.models import Team
from app.models import Touchpoint
from app.models import User
from app.models import utcnow
from app.richtext import render_markdown

DEFAULT_PASSWORD = "correct horse battery"  # noqa: S105
# scrypt is deliberately slow; hash once per test session, not once per user.
_PASSWORD_HASH = generate_password_hash(DEFAULT_PASSWORD, method="scrypt")
_seq = itertools.count(1)


def make_team(name: str | None = None) -> Team:
    team = Team(name=name or f"Team {next(_seq)}")
    db.session.add(team)
    db.session.flush()
    return team


def make_user(
    role: Role = Role.EMPLOYEE,
    *,
    email: str | None = None,
    display_name: str | None = None,
    team: Team | None = None,
    password: str | None = DEFAULT_PASSWORD,
    active: bool = True,
    **kwargs,
) -> User:
    n = next(_seq)
    user = User(
        email=email or f"{role.value}{n}@example.com",
        display_name=display_name or f"{role.value.capitalize()} Person{n}",
        role=role,
        team=team,
        is_active_user=active,
        **kwargs,
    )
    if password == DEFAULT_PASSWORD:
        user.password_hash = _PASSWORD_HASH
    elif password is not None:
        user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def touchpoint(slug: str = "store") -> Touchpoint:
    return db.session.scalar(db.select(Touchpoint).where(Touchpoint.slug == slug))


def make_tag(name: str) -> Tag:
    tag = db.session.scalar(db.select(Tag).where(Tag.name == name.lower()))
    if tag is None:
        tag = Tag(name=name.lower())
        db.session.add(tag)
        db.session.flush()
    return tag


def _stamp(item, status: SubmissionStatus) -> None:
    now = utcnow()
    if status != SubmissionStatus.DRAFT:
        item.submitted_at = item.submitted_at or now
    if status in (
        SubmissionStatus.APPROVED,
        SubmissionStatus.PUBLISHED,
        SubmissionStatus.REJECTED,
        SubmissionStatus.CHANGES_REQUESTED,
    ):
        item.decided_at = item.decided_at or now
    if status in (SubmissionStatus.APPROVED, SubmissionStatus.PUBLISHED):
        item.approved_at = item.approved_at or now
    if status == SubmissionStatus.PUBLISHED:
        item.published_at = item.published_at or now


def make_story(
    author: User | None = None,
    *,
    status: SubmissionStatus = SubmissionStatus.DRAFT,
    title: str | None = None,
    body: str = "A customer arrived upset and left delighted, thanks to a colleague's care.",
    colleagues: list[User] = (),
    names: list[str] = (),
    tags: list[str] = (),
    touchpoint_slug: str | None = "store",
    team: Team | None = None,
    **kwargs,
) -> Story:
    author = author or make_user()
    story = Story(
        title=title or f"Story {next(_seq)}",
        body_md=body,
        body_html=render_markdown(body),
        author=author,
        team=team or author.team,
        touchpoint=touchpoint(touchpoint_slug) if touchpoint_slug else None,
        tags=[make_tag(t) for t in tags],
        status=status,
        **kwargs,
    )
    for position, user in enumerate(colleagues):
        story.recognitions.append(Recognition(user=user, position=position))
    for offset, name in enumerate(names, start=len(colleagues)):
        story.recognitions.append(Recognition(name=name, position=offset))
    _stamp(story, status)
    db.session.add(story)
    db.session.flush()
    return story


def make_quote(
    author: User | None = None,
    *,
    status: SubmissionStatus = SubmissionStatus.DRAFT,
    text: str = "You made my week. Thank you for listening.",
    source: QuoteSource = QuoteSource.SURVEY,
    nps_score: int | None = None,
    received_on: date | None = None,
    **kwargs,
) -> Quote:
    author = author or make_user()
    quote = Quote(
        text=text,
        text_html=render_markdown(text),
        source=source,
        nps_score=nps_score,
        received_on=received_on or date.today() - timedelta(days=1),
        author=author,
        team=author.team,
        status=status,
        **kwargs,
    )
    _stamp(quote, status)
    db.session.add(quote)
    db.session.flush()
    return quote


def make_edition(
    *,
    status: EditionStatus = EditionStatus.DRAFT,
    number: int | None = None,
    items: list[Story | Quote] = (),
    **kwargs,
) -> Edition:
    if number is None:
        number = (db.session.scalar(db.select(db.func.max(Edition.number))) or 0) + 1
    edition = Edition(number=number, status=status, **kwargs)
    for position, item in enumerate(items):
        if isinstance(item, Story):
            edition.items.append(EditionItem(story=item, position=position))
        else:
            edition.items.append(EditionItem(quote=item, position=position))
    if status == EditionStatus.SENT and edition.sent_at is None:
        edition.sent_at = utcnow()
    db.session.add(edition)
    db.session.flush()
    return edition
