"""GET /editions and /editions/{id}: the editions that went out, with their items in order.

Only sent editions exist here (a draft, a scheduled or a skipped one is 404). Items are shown
through the reading feature's cards (`story_cards`, `quote_cards`: published items only), the
same the web's pages show; an item since withdrawn from publication is left out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from app.api import queries
from app.api.pagination import Page
from app.api.pagination import PageQuery
from app.api.pagination import keyset
from app.api.quotes import QuoteSummaryOut
from app.api.routing import operation
from app.api.schemas import Out
from app.api.stories import StorySummaryOut
from app.api.stories import edition_url
from app.errors import NotFound
from app.extensions import db
from app.models import Edition
from app.reading.queries import quote_cards
from app.reading.queries import story_cards
from app.tokens.scopes import READ


class EditionSummaryOut(Out):
    id: int
    number: int
    title: str = Field(description='The full subject line, e.g. "Feel Good Fridays #12: …".')
    subject: str
    sent_at: datetime
    stories: int
    quotes: int
    url: str = Field(description="The edition's page in the web archive.")


class EditionItemOut(Out):
    position: int
    kind: Literal["story", "quote"]
    id: int = Field(description="The story's or the quote's id.")
    title: str = Field(description="The story's title, or the quote's text.")
    story: StorySummaryOut | None
    quote: QuoteSummaryOut | None


class EditionOut(EditionSummaryOut):
    intro_html: str = Field(description="The editor's introduction: sanitized HTML.")
    items: list[EditionItemOut]


def _summary(edition: Edition, counts: tuple[int, int]) -> dict[str, object]:
    assert edition.sent_at is not None  # a sent edition
    return {"id": edition.id, "number": edition.number, "title": edition.full_subject,
            "subject": edition.subject, "sent_at": edition.sent_at, "stories": counts[0],
            "quotes": counts[1], "url": edition_url(edition.number)}


@operation("GET", "/editions", scope=READ, cached=True, tag="Editions",
           summary="Sent editions, newest first", query=PageQuery,
           response=Page[EditionSummaryOut])
def list_editions(query: PageQuery) -> Page[EditionSummaryOut]:
    """The editions that went out, newest (highest number) first."""
    rows, after = keyset(queries.sent_editions(), [(Edition.number, True)], query,
                         scope="editions", key=lambda e: (e.number,), session=db.session)
    counts = queries.edition_item_counts([e.id for e in rows])
    return Page[EditionSummaryOut](
        data=[EditionSummaryOut(**_summary(e, counts.get(e.id, (0, 0)))) for e in rows],
        next_cursor=after)


@operation("GET", "/editions/<int:edition_id>", scope=READ, cached=True, tag="Editions",
           summary="One sent edition and its items", response=EditionOut, etag=True)
def get_edition(edition_id: int) -> EditionOut:
    """A sent edition, its introduction and its stories and quotes in newsletter order."""
    edition = queries.sent_edition(edition_id)
    if edition is None:
        raise NotFound("There is no such edition.")
    ordered = sorted(edition.items, key=lambda item: (item.position, item.id))
    stories = {c.id: c for c in story_cards(i.story_id for i in ordered if i.story_id)}
    quotes = {c.id: c for c in quote_cards(i.quote_id for i in ordered if i.quote_id)}
    items = []
    for item in ordered:
        if item.story_id is not None and item.story_id in stories:
            card = stories[item.story_id]
            items.append(EditionItemOut(position=len(items) + 1, kind="story", id=card.id,
                                        title=card.title, story=StorySummaryOut.of(card),
                                        quote=None))
        elif item.quote_id is not None and item.quote_id in quotes:
            quote = quotes[item.quote_id]
            items.append(EditionItemOut(position=len(items) + 1, kind="quote", id=quote.id,
                                        title=quote.text, story=None,
                                        quote=QuoteSummaryOut.of(quote)))
    counts = queries.edition_item_counts([edition.id]).get(edition.id, (0, 0))
    return EditionOut(**_summary(edition, counts), intro_html=edition.intro_html or "",
                      items=items)
