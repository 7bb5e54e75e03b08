"""GET /quotes and /quotes/{id}: published customer quotes, attributed as the web does.

The attribution is the model's own rule (`Quote.attribution`): anonymous unless the customer
agreed to be named, so a name, role or organization the web hides never leaves through here.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from app.api import queries
from app.api.pagination import Page
from app.api.pagination import PageQuery
from app.api.pagination import keyset
from app.api.routing import operation
from app.api.schemas import Out
from app.api.schemas import TeamOut
from app.api.stories import Id
from app.api.stories import Time
from app.api.stories import edition_url
from app.errors import NotFound
from app.extensions import db
from app.models import Quote
from app.models import SubmissionStatus
from app.reading.queries import QuoteCard
from app.tokens.scopes import READ


class QuoteOut(Out):
    id: int
    text: str = Field(description="What the customer said (plain text).")
    attribution: str = Field(description="Who said it, as the web shows it.")
    source: str = Field(description="Where it was said: survey, email, call, chat, "
                                    "review_site, social_media or in_person.")
    source_label: str
    nps_score: int | None
    team: TeamOut | None = Field(description="The team of the colleague who submitted it.")
    story: int | None = Field(description="The id of the published story behind it, if any.")
    published_at: datetime
    edition: int | None = Field(description="The id of the sent edition that carried it.")
    url: str | None = Field(description="The edition's page on the web, where the quote "
                                        "appears (null before it went out).")


def quote_out(quote: Quote, edition: tuple[int, int] | None) -> QuoteOut:
    behind = quote.story
    return QuoteOut(
        id=quote.id,
        text=quote.text,
        attribution=quote.attribution,
        source=quote.source.value,
        source_label=quote.source.label,
        nps_score=quote.nps_score,
        team=TeamOut.of(quote.team) if quote.team is not None else None,
        story=behind.id if behind is not None and behind.status == SubmissionStatus.PUBLISHED
        else None,
        published_at=quote.published_at,
        edition=edition[0] if edition else None,
        url=edition_url(edition[1]) if edition else None,
    )


class QuoteSummaryOut(Out):
    """A quote as a card shows it (in an edition's items and in search results)."""

    id: int
    text: str
    attribution: str
    source_label: str = Field(description="Empty when the attribution already names it.")
    nps_score: int | None
    story: int | None
    published_at: datetime | None

    @classmethod
    def of(cls, card: QuoteCard) -> QuoteSummaryOut:
        return cls(id=card.id, text=card.text, attribution=card.attribution,
                   source_label=card.source_label, nps_score=card.nps, story=card.story_id,
                   published_at=card.published_at)


class QuoteQuery(PageQuery):
    team_id: Id = Field(None, description="Only quotes submitted by this team.")
    published_after: Time = Field(None, description="Published at or after this time "
                                                    "(ISO 8601; UTC when no offset is given).")
    published_before: Time = Field(None, description="Published before this time.")

    def scope(self) -> str:
        times = [t.isoformat() if t else "" for t in (self.published_after,
                                                      self.published_before)]
        return f"quotes|{self.team_id}|" + "|".join(times)


@operation("GET", "/quotes", scope=READ, tag="Quotes", summary="Published quotes, newest first",
           query=QuoteQuery, response=Page[QuoteOut], cached=True)
def list_quotes(query: QuoteQuery) -> Page[QuoteOut]:
    """Published customer quotes, newest first."""
    statement = queries.published_quotes(query.team_id, query.published_after,
                                         query.published_before)
    rows, after = keyset(statement, [(Quote.published_at, True), (Quote.id, True)], query,
                         scope=query.scope(), key=lambda q: (q.published_at, q.id),
                         session=db.session)
    editions = queries.quote_editions([q.id for q in rows])
    return Page[QuoteOut](data=[quote_out(q, editions.get(q.id)) for q in rows],
                          next_cursor=after)


@operation("GET", "/quotes/<int:quote_id>", scope=READ, cached=True, tag="Quotes",
           summary="One published quote", response=QuoteOut, etag=True)
def get_quote(quote_id: int) -> QuoteOut:
    """A published quote; any other is 404, as a missing one."""
    quote = queries.published_quote(quote_id)
    if quote is None:
        raise NotFound("There is no such quote.")
    return quote_out(quote, queries.quote_editions([quote.id]).get(quote.id))
