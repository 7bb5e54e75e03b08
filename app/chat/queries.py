"""Reads for the chat admin pages and the subscribers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import ChatDestination
from app.models import ChatPost
from app.models import ChatPostStatus
from app.models import Team

S = ChatPostStatus
POSTS_PAGE = 20


@dataclass(frozen=True)
class DestinationRow:
    destination: ChatDestination
    waiting: int  # pending or being posted
    failed: int
    sent: int


def destinations() -> list[DestinationRow]:
    """Every destination, by name, with its posts counted per status (two queries)."""
    rows = list(db.session.scalars(
        sa.select(ChatDestination).options(joinedload(ChatDestination.team))
        .order_by(sa.func.lower(ChatDestination.name), ChatDestination.id)
    ))  # fmt: skip
    counts = post_counts(d.id for d in rows)
    return [DestinationRow(d, *counts.get(d.id, (0, 0, 0))) for d in rows]


def post_counts(ids: Iterable[int]) -> dict[int, tuple[int, int, int]]:
    """destination id → (waiting, failed, sent)."""
    wanted = list(ids)
    if not wanted:
        return {}
    found = db.session.execute(
        sa.select(ChatPost.destination_id, ChatPost.status, sa.func.count())
        .where(ChatPost.destination_id.in_(wanted))
        .group_by(ChatPost.destination_id, ChatPost.status)
    ).all()
    counts: dict[int, list[int]] = {}
    for destination_id, status, n in found:
        slot = counts.setdefault(destination_id, [0, 0, 0])
        index = {S.PENDING: 0, S.SENDING: 0, S.FAILED: 1, S.SENT: 2}[S(status)]
        slot[index] += n
    return {key: (a, b, c) for key, (a, b, c) in counts.items()}


@dataclass(frozen=True)
class PostsPage:
    items: list[ChatPost]
    next_before: int | None  # older posts: ?before=<id>


def recent_posts(destination_id: int, *, before: int | None = None,
                 size: int = POSTS_PAGE) -> PostsPage:
    """The destination's posts, newest first, a page at a time (id cursor)."""
    stmt = sa.select(ChatPost).where(ChatPost.destination_id == destination_id)
    if before is not None:
        stmt = stmt.where(ChatPost.id < before)
    items = list(db.session.scalars(stmt.order_by(ChatPost.id.desc()).limit(size + 1)))
    more = len(items) > size
    items = items[:size]
    return PostsPage(items, items[-1].id if more and items else None)


def destinations_for(flag: str, team_ids: list[int | None] | None = None) -> list[ChatDestination]:
    """Active destinations that chose `flag` ("on_edition_sent"…). With `team_ids`, only those
    for every team or for one of these teams."""
    stmt = sa.select(ChatDestination).where(
        ChatDestination.active.is_(True), getattr(ChatDestination, flag).is_(True))
    if team_ids is not None:
        teams = [t for t in team_ids if t is not None]
        stmt = stmt.where(sa.or_(ChatDestination.team_id.is_(None),
                                 ChatDestination.team_id.in_(teams)))
    return list(db.session.scalars(stmt.order_by(ChatDestination.id)))


def team_choices() -> list[tuple[int, str]]:
    return [(row.id, row.name) for row in db.session.execute(
        sa.select(Team.id, Team.name).order_by(Team.name))]
