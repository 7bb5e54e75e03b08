"""Teams, touchpoints and tags: the small lists a client uses to filter stories."""

from __future__ import annotations

import sqlalchemy as sa

from app.api.pagination import Page
from app.api.pagination import PageQuery
from app.api.pagination import keyset
from app.api.routing import operation
from app.api.schemas import TagOut
from app.api.schemas import TeamOut
from app.api.schemas import TouchpointOut
from app.extensions import db
from app.models import Tag
from app.models import Team
from app.models import Touchpoint
from app.tokens.scopes import READ


@operation("GET", "/teams", scope=READ, cached=True, tag="Teams", summary="Teams, by name",
           query=PageQuery, response=Page[TeamOut])
def list_teams(query: PageQuery) -> Page[TeamOut]:
    rows, after = keyset(sa.select(Team), [(Team.name, False), (Team.id, False)], query,
                         scope="teams", key=lambda t: (t.name, t.id), session=db.session)
    return Page[TeamOut](data=[TeamOut.of(t) for t in rows], next_cursor=after)


@operation("GET", "/touchpoints", scope=READ, cached=True, tag="Touchpoints",
           summary="Active touchpoints, in the admins' order", query=PageQuery,
           response=Page[TouchpointOut])
def list_touchpoints(query: PageQuery) -> Page[TouchpointOut]:
    statement = sa.select(Touchpoint).where(Touchpoint.is_active)
    rows, after = keyset(statement, [(Touchpoint.position, False), (Touchpoint.id, False)],
                         query, scope="touchpoints", key=lambda t: (t.position, t.id),
                         session=db.session)
    return Page[TouchpointOut](data=[TouchpointOut.of(t) for t in rows], next_cursor=after)


@operation("GET", "/tags", scope=READ, tag="Tags", summary="Tags, by name", query=PageQuery,
           response=Page[TagOut], cached=True)
def list_tags(query: PageQuery) -> Page[TagOut]:
    rows, after = keyset(sa.select(Tag), [(Tag.name, False), (Tag.id, False)], query,
                         scope="tags", key=lambda t: (t.name, t.id), session=db.session)
    return Page[TagOut](data=[TagOut.of(t) for t in rows], next_cursor=after)
