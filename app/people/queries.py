"""Reads for the people admin: a person's manager, reports, recognitions and submissions, and
the free-text colleague names still waiting for an account (with the accounts they may be).

Every list is one query however long it is (capped, with its full count beside it), so the
pages cost the same for a newcomer and for someone named in a thousand stories.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Quote
from app.models import Recognition
from app.models import Story
from app.models import SubmissionStatus
from app.models import User
from app.titles import item_title

LIST_CAP = 20  # rows of each list on the person page; the count says how many there are
REPORTS_CAP = 50
NAMES_PER_PAGE = 50
SUGGESTIONS = 3
CANDIDATES_MAX = 500  # accounts read to rank suggestions for one page of names
SEARCH_MAX = 120
_PARENTHESIS = re.compile(r"\s*\([^)]*\)\s*$")  # "Noah (no account)" → "Noah"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ItemRow:
    """One story or quote on the person page, with the link that suits its status."""

    kind: str
    id: int
    title: str
    status: SubmissionStatus
    at: datetime
    author_name: str | None = None

    @property
    def endpoint(self) -> tuple[str, dict[str, object]] | None:
        """Published stories open on the reading page; anything submitted opens in review;
        drafts nobody submitted have no page to show."""
        if self.kind == "story" and self.status == SubmissionStatus.PUBLISHED:
            return "reading.story", {"story_id": self.id}
        if self.status != SubmissionStatus.DRAFT:
            return "review.item", {"kind": self.kind, "item_id": self.id}
        return None


@dataclass(frozen=True)
class Capped:
    rows: list
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


@dataclass(frozen=True)
class PersonPage:
    """What the admin's person page shows beyond the account itself."""

    manager: User | None
    reports: Capped
    recognitions: Capped
    submissions: Capped


def _title(item: Story | Quote) -> str:
    return item_title(item, 90)


def _count(stmt: sa.Select) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0


def recognitions_of(user_id: int, cap: int = LIST_CAP) -> Capped:
    """Stories that name the person, newest first."""
    where = sa.select(Recognition.story_id).where(Recognition.user_id == user_id)
    stories = db.session.scalars(
        sa.select(Story).where(Story.id.in_(where)).options(joinedload(Story.author))
        .order_by(Story.created_at.desc(), Story.id.desc()).limit(cap)
    ).all()  # fmt: skip
    rows = [ItemRow("story", s.id, _title(s), s.status, s.submitted_at or s.created_at,
                    s.author.display_name) for s in stories]  # fmt: skip
    return Capped(rows, _count(where))


def submissions_of(user_id: int, cap: int = LIST_CAP) -> Capped:
    """Stories and quotes the person wrote, newest first."""
    found: list[ItemRow] = []
    total = 0
    for model in (Story, Quote):
        mine = sa.select(model).where(model.author_id == user_id)
        items = db.session.scalars(
            mine.order_by(model.created_at.desc(), model.id.desc()).limit(cap)
        ).all()
        found += [ItemRow(i.kind, i.id, _title(i), i.status, i.submitted_at or i.created_at)
                  for i in items]  # fmt: skip
        total += _count(sa.select(model.id).where(model.author_id == user_id))
    found.sort(key=lambda r: r.at, reverse=True)
    return Capped(found[:cap], total)


def reports_of(user_id: int, cap: int = REPORTS_CAP) -> Capped:
    """The people the person manages (active first, then by name)."""
    mine = sa.select(User).where(User.manager_id == user_id)
    rows = db.session.scalars(
        mine.order_by(User.is_active_user.desc(), User.display_name, User.id).limit(cap)
    ).all()
    return Capped(list(rows), _count(sa.select(User.id).where(User.manager_id == user_id)))


def person_page(person: User) -> PersonPage:
    return PersonPage(
        manager=person.manager,
        reports=reports_of(person.id),
        recognitions=recognitions_of(person.id),
        submissions=submissions_of(person.id),
    )


# Free-text names ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FreeName:
    """A colleague named without an account, how many stories name them, and who it may be."""

    name: str
    stories: int
    suggestions: list[User]


def core_name(name: str) -> str:
    """What to look for among the accounts: the name without a trailing "(…)" note."""
    return _PARENTHESIS.sub("", name).strip() or name


def clean_search(term: str | None) -> str:
    return " ".join(_CONTROL.sub("", term or "").split())[:SEARCH_MAX]


def free_names(search: str = "", page: int = 1) -> tuple[list[FreeName], bool]:
    """One page of the free-text names (A–Z), and whether there is a next page."""
    stmt = (
        sa.select(Recognition.name, sa.func.count(sa.distinct(Recognition.story_id)))
        .where(Recognition.user_id.is_(None), Recognition.name.is_not(None))
        .group_by(Recognition.name)
        .order_by(sa.func.lower(Recognition.name), Recognition.name)
    )
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Recognition.name.ilike(f"%{escaped}%", escape="\\"))
    offset = (page - 1) * NAMES_PER_PAGE
    rows = db.session.execute(stmt.limit(NAMES_PER_PAGE + 1).offset(offset)).all()
    names = [(name, count) for name, count in rows[:NAMES_PER_PAGE]]
    matches = suggestions_for([name for name, _ in names])
    return [FreeName(n, c, matches.get(n, [])) for n, c in names], len(rows) > NAMES_PER_PAGE


def names_in_story(story: Story) -> list[FreeName]:
    """The story's free-text names, each with how many stories name it and who it may be."""
    names = [r.name for r in story.recognitions if r.user_id is None and r.name]
    if not names:
        return []
    counts = dict(db.session.execute(
        sa.select(Recognition.name, sa.func.count(sa.distinct(Recognition.story_id)))
        .where(Recognition.user_id.is_(None), Recognition.name.in_(names))
        .group_by(Recognition.name)
    ).all())  # fmt: skip
    matches = suggestions_for(names)
    return [FreeName(n, counts.get(n, 1), matches.get(n, [])) for n in names]


def _rank(person: User, wanted: str) -> int | None:
    """0: the same name; 1: the account's name starts with it ("Noah" → "Noah Kim");
    2: the same first name. None: not a match."""
    have, want = person.display_name.casefold(), wanted.casefold()
    if have == want:
        return 0
    if have.startswith(want + " "):
        return 1
    first = want.split()[0] if want.split() else want
    if have.split() and have.split()[0] == first:
        return 2
    return None


def suggestions_for(names: list[str]) -> dict[str, list[User]]:
    """Active accounts each name may be, best first: one query for all the names."""
    cores = {name: core_name(name) for name in names}
    firsts = {c.split()[0].lower() for c in cores.values() if c.split()}
    if not firsts:
        return {}
    conditions = [sa.func.lower(User.display_name).startswith(f, autoescape=True) for f in firsts]
    people = db.session.scalars(
        sa.select(User).where(User.is_active_user.is_(True), sa.or_(*conditions))
        .options(joinedload(User.team)).order_by(User.display_name, User.id).limit(CANDIDATES_MAX)
    ).all()  # fmt: skip
    found: dict[str, list[User]] = {}
    for name, core in cores.items():
        ranked = [(rank, p) for p in people if (rank := _rank(p, core)) is not None]
        ranked.sort(key=lambda pair: pair[0])
        found[name] = [p for _, p in ranked[:SUGGESTIONS]]
    return found
