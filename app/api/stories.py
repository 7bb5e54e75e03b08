"""GET /stories and /stories/{id}: published stories, as the web shows them.

Only published stories exist here: a draft, a submission under review or a rejected story is
404 exactly like a missing one. The body is the sanitized HTML the web shows (rendered once at
save time by app.richtext), never the Markdown source, which only the author and editors see;
the customer is named by the model's own rule (`Story.customer_display`).
"""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator
from pydantic import BeforeValidator
from pydantic import Field

from app.api import queries
from app.api.pagination import Page
from app.api.pagination import PageQuery
from app.api.pagination import keyset
from app.api.routing import operation
from app.api.schemas import Out
from app.api.schemas import PersonRef
from app.api.schemas import TagOut
from app.api.schemas import TeamOut
from app.api.schemas import TouchpointOut
from app.errors import NotFound
from app.extensions import db
from app.models import Story
from app.numbers import INT_MAX
from app.numbers import bounded_int
from app.reading.queries import StoryCard
from app.text import clean_text
from app.tokens.scopes import READ
from app.web.urls import absolute_url

NAME_MAX = 120


_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})?")


def _iso(value: object) -> object:
    """Only an ISO 8601 date and time (pydantic alone would take "0.5" as a Unix time)."""
    if isinstance(value, str) and not _DATE_TIME.fullmatch(value):
        raise ValueError("Expected a date and time, e.g. 2026-03-06T09:00:00Z.")
    return value


def _utc(value: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC (every stored time is). Near year 1 or 9999 an
    offset can carry it out of the calendar: that is the client's invalid value (422)."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("The time is out of range (years 1 to 9999 in UTC).") from None


def _text(value: str | None) -> str | None:
    """Control characters (NUL among them) removed; empty means "no filter"."""
    cleaned = clean_text(value) if value is not None else ""
    return cleaned or None


Time = Annotated[datetime | None, BeforeValidator(_iso), AfterValidator(_utc)]
Text = Annotated[str | None, AfterValidator(_text)]
Id = Annotated[int | None, Field(ge=1, le=INT_MAX)]


def story_url(story_id: int) -> str:
    return absolute_url("reading.story", story_id=story_id)


def edition_url(number: int) -> str:
    return absolute_url("newsletter.edition", number=number)


class ColleagueOut(Out):
    """A colleague recognized in a story: an account (`id`, the person's team) or a name
    written in by the author for someone without one (`id` null)."""

    id: int | None
    name: str
    team: TeamOut | None


class StoryOut(Out):
    id: int
    title: str
    body_html: str = Field(description="The story as the web shows it: sanitized HTML.")
    customer: str = Field(description="The customer as the web names them (anonymised "
                                      "without their consent).")
    author: PersonRef
    published_at: datetime
    team: TeamOut | None
    touchpoint: TouchpointOut | None
    tags: list[TagOut]
    colleagues: list[ColleagueOut]
    applause: int
    comments: int
    edition: int | None = Field(description="The id of the sent edition that carried it.")
    url: str = Field(description="The story's page on the web.")


def story_out(story: Story, extras: queries.StoryExtras) -> StoryOut:
    return StoryOut(
        id=story.id,
        title=story.title,
        body_html=story.body_html,
        customer=story.customer_display,
        author=PersonRef.of(story.author),
        published_at=story.published_at,
        team=TeamOut.of(story.team) if story.team is not None else None,
        touchpoint=TouchpointOut.of(story.touchpoint) if story.touchpoint is not None else None,
        tags=[TagOut.of(tag) for tag in story.tags],
        colleagues=[
            ColleagueOut(id=r.user.id, name=r.user.display_name,
                         team=TeamOut.of(r.user.team) if r.user.team is not None else None)
            if r.user is not None else ColleagueOut(id=None, name=r.name or "", team=None)
            for r in story.recognitions
        ],
        applause=extras.applause,
        comments=extras.comments,
        edition=extras.edition_id,
        url=story_url(story.id),
    )


class StorySummaryOut(Out):
    """A story as a card shows it (in an edition's items and in search results)."""

    id: int
    title: str
    excerpt: str = Field(description="Plain-text teaser of the body.")
    author: str
    published_at: datetime | None
    team: str | None
    touchpoint: str | None = Field(description="The touchpoint's label.")
    tags: list[str]
    colleagues: list[str]
    applause: int
    url: str

    @classmethod
    def of(cls, card: StoryCard) -> StorySummaryOut:
        return cls(id=card.id, title=card.title, excerpt=card.excerpt, author=card.author_name,
                   published_at=card.published_at, team=card.team_name,
                   touchpoint=card.touchpoint_label, tags=list(card.tags),
                   colleagues=[c.name for c in card.colleagues], applause=card.applause,
                   url=story_url(card.id))


class StoryQuery(PageQuery):
    team_id: Id = Field(None, description="Only this team's stories.")
    touchpoint: Text = Field(None, max_length=80,
                             description="Only stories at this touchpoint (its id or slug).")
    tag: Text = Field(None, max_length=80, description="Only stories with this tag (its name).")
    colleague_id: Id = Field(None, description="Only stories recognizing this person.")
    published_after: Time = Field(None, description="Published at or after this time "
                                                    "(ISO 8601; UTC when no offset is given).")
    published_before: Time = Field(None, description="Published before this time.")

    def filters(self) -> queries.StoryFilters:
        touchpoint_id = touchpoint_slug = None
        if self.touchpoint is not None:
            try:
                touchpoint_id = bounded_int(self.touchpoint, low=1)
            except ValueError:
                touchpoint_slug = self.touchpoint
        return queries.StoryFilters(
            team_id=self.team_id, touchpoint_id=touchpoint_id, touchpoint_slug=touchpoint_slug,
            tag=self.tag.lower() if self.tag else None, colleague_id=self.colleague_id,
            published_after=self.published_after, published_before=self.published_before)

    def scope(self) -> str:
        f = self.filters()
        times = [t.isoformat() if t else "" for t in (f.published_after, f.published_before)]
        return "stories|" + "|".join(str(v) for v in (
            f.team_id, f.touchpoint_id, f.touchpoint_slug, f.tag, f.colleague_id, *times))


@operation("GET", "/stories", scope=READ, tag="Stories", summary="Published stories, newest first",
           query=StoryQuery, response=Page[StoryOut], cached=True)
def list_stories(query: StoryQuery) -> Page[StoryOut]:
    """Published stories, newest first, with their colleagues, team, touchpoint, tags and
    applause. Filters combine (all must hold); an unknown touchpoint or tag matches nothing."""
    rows, after = keyset(queries.published_stories(query.filters()),
                         [(Story.published_at, True), (Story.id, True)], query,
                         scope=query.scope(), key=lambda s: (s.published_at, s.id),
                         session=db.session)
    extras = queries.story_extras([s.id for s in rows])
    return Page[StoryOut](data=[story_out(s, extras[s.id]) for s in rows], next_cursor=after)


@operation("GET", "/stories/<int:story_id>", scope=READ, cached=True, tag="Stories",
           summary="One published story", response=StoryOut, etag=True)
def get_story(story_id: int) -> StoryOut:
    """A published story; any other (a draft, one under review, a rejected one) is 404, as a
    missing one."""
    story = queries.published_story(story_id)
    if story is None:
        raise NotFound("There is no such story.")
    return story_out(story, queries.story_extras([story.id])[story.id])
