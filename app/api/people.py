"""GET /people and /people/{id}: public profiles, as the web's person page shows them.

Only what every signed-in colleague sees on a person's page: name, team, photo and their record
(stories recognizing them, stories they shared, applause for the former). Never an email
address, a role or anything about signing in. The list holds active people (those a reader can
still recognize); a former colleague's profile stays readable by id, as on the web, where the
stories that name them still link to it, and says `active: false`.
"""

from __future__ import annotations

from pydantic import Field

from app.api import queries
from app.api.pagination import Page
from app.api.pagination import PageQuery
from app.api.pagination import keyset
from app.api.routing import operation
from app.api.schemas import Out
from app.api.schemas import TeamOut
from app.api.stories import Id
from app.api.stories import Text
from app.errors import NotFound
from app.extensions import db
from app.models import User
from app.photos.storage import SIZES
from app.photos.urls import email_photo_url
from app.reading.queries import person_profile
from app.tokens.scopes import READ
from app.web.urls import absolute_url

PHOTO_SIZE = max(SIZES)


class PersonOut(Out):
    id: int
    name: str
    team: TeamOut | None
    active: bool = Field(description="False for a former colleague (not listed, not "
                                     "recognizable in new stories).")
    photo_url: str | None = Field(description="A signed link to their profile photo "
                                              "(square JPEG), null without one.")
    stories_recognizing: int = Field(description="Published stories recognizing them.")
    stories_shared: int = Field(description="Published stories they shared.")
    applause_received: int = Field(description="Applause for the stories recognizing them.")
    url: str = Field(description="Their page on the web.")


def _photo(user_id: int, key: str | None) -> str | None:
    return email_photo_url(user_id, key, PHOTO_SIZE) if key else None


def person_out(user: User, counts: queries.PersonCounts) -> PersonOut:
    return PersonOut(
        id=user.id, name=user.display_name,
        team=TeamOut.of(user.team) if user.team is not None else None,
        active=user.is_active_user, photo_url=_photo(user.id, user.photo_key),
        stories_recognizing=counts.recognized, stories_shared=counts.shared,
        applause_received=counts.applause_received,
        url=absolute_url("reading.person", user_id=user.id))


class PeopleQuery(PageQuery):
    team_id: Id = Field(None, description="Only this team's members.")
    q: Text = Field(None, max_length=120,
                    description="Only people whose name starts with this (any case).")

    def scope(self) -> str:
        return f"people|{self.team_id}|{self.q or ''}"


@operation("GET", "/people", scope=READ, tag="People", summary="Active people, by name",
           query=PeopleQuery, response=Page[PersonOut], cached=True)
def list_people(query: PeopleQuery) -> Page[PersonOut]:
    """Active people by name, with their public profile and record."""
    rows, after = keyset(queries.active_people(query.team_id, query.q),
                         [(User.display_name, False), (User.id, False)], query,
                         scope=query.scope(), key=lambda u: (u.display_name, u.id),
                         session=db.session)
    counts = queries.people_counts([u.id for u in rows])
    return Page[PersonOut](data=[person_out(u, counts[u.id]) for u in rows], next_cursor=after)


@operation("GET", "/people/<int:user_id>", scope=READ, cached=True, tag="People",
           summary="One person's public profile", response=PersonOut, etag=True)
def get_person(user_id: int) -> PersonOut:
    """A person's public profile and record (the web's person page), former colleagues too."""
    user = queries.person(user_id)
    profile = person_profile(user_id) if user is not None else None
    if user is None or profile is None:
        raise NotFound("There is no such person.")
    counts = queries.PersonCounts(profile.recognized_count, profile.shared_count,
                                  profile.applause_received)
    return person_out(user, counts)
