"""GET /search: published stories and quotes matching words, ranked as the web's search.

It is the web's search (app.reading.search through `search_results`): the same engine, ranking,
highlights and visibility (published items only). Its own cursor is wrapped in the API's signed
cursor, bound to the words and filters, so a cursor from another search is refused.
"""

from __future__ import annotations

from typing import Annotated
from typing import Literal

from pydantic import AfterValidator
from pydantic import Field

from app.api.pagination import Page
from app.api.pagination import PageQuery
from app.api.pagination import decode
from app.api.pagination import encode
from app.api.pagination import page_size
from app.api.quotes import QuoteSummaryOut
from app.api.routing import operation
from app.api.schemas import Out
from app.api.stories import Id
from app.api.stories import StorySummaryOut
from app.api.stories import Time
from app.reading import search
from app.reading.queries import search_results
from app.text import clean_text
from app.tokens.scopes import READ

Q_MAX = 200


def _words(value: str) -> str:
    cleaned = clean_text(value)
    if not cleaned:
        raise ValueError("Give at least one character to search for.")
    return cleaned


class SearchQuery(PageQuery):
    q: Annotated[str, Field(min_length=1, max_length=Q_MAX), AfterValidator(_words)] = Field(
        description="The words to find (every word must match; the last may be the start of "
                    "a word).")
    team_id: Id = Field(None, description="Only this team's stories and quotes.")
    touchpoint_id: Id = Field(None, description="Only stories at this touchpoint (leaves "
                                                "quotes out).")
    tag_id: Id = Field(None, description="Only stories with this tag (leaves quotes out).")
    published_after: Time = Field(None, description="Published at or after this time.")
    published_before: Time = Field(None, description="Published before this time.")

    def filters(self) -> search.SearchFilters:
        return search.SearchFilters(
            team_id=self.team_id, touchpoint_id=self.touchpoint_id, tag_id=self.tag_id,
            published_from=self.published_after, published_before=self.published_before)

    def scope(self) -> str:
        times = [t.isoformat() if t else "" for t in (self.published_after,
                                                      self.published_before)]
        return "search|" + "|".join(str(v) for v in (
            self.q, self.team_id, self.touchpoint_id, self.tag_id, *times))


class SearchHitOut(Out):
    kind: Literal["story", "quote"]
    title_html: str | None = Field(description="The story's title with the matching words "
                                               "in <mark> (escaped HTML).")
    snippet_html: str | None = Field(description="The matching passage, words in <mark> "
                                                 "(escaped HTML).")
    story: StorySummaryOut | None
    quote: QuoteSummaryOut | None


@operation("GET", "/search", scope=READ, cached=True, tag="Search",
           summary="Search published stories and quotes", query=SearchQuery,
           response=Page[SearchHitOut])
def search_content(query: SearchQuery) -> Page[SearchHitOut]:
    """Published stories and quotes matching every word, best first, as the web's search
    ranks them, with highlighted titles and snippets."""
    scope = query.scope()
    inner = decode(query.cursor, scope, 1)[0] if query.cursor else None
    if inner is not None and not isinstance(inner, str):  # signed by us: cannot happen
        inner = None
    page = search_results(query.q, query.filters(), inner, limit=page_size(query))
    data = []
    for result in page.items:
        if result.story is not None:
            card = result.story
            data.append(SearchHitOut(
                kind="story", title_html=str(card.title_html) if card.title_html else None,
                snippet_html=str(card.snippet_html) if card.snippet_html else None,
                story=StorySummaryOut.of(card), quote=None))
        elif result.quote is not None:
            quote = result.quote
            data.append(SearchHitOut(
                kind="quote", title_html=None,
                snippet_html=str(quote.snippet_html) if quote.snippet_html else None,
                story=None, quote=QuoteSummaryOut.of(quote)))
    after = encode([page.next_cursor], scope) if page.next_cursor else None
    return Page[SearchHitOut](data=data, next_cursor=after)
