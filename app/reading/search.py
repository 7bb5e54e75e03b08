"""Full-text search over published stories and quotes, one interface on two engines.

SQLite uses an FTS5 virtual table (`search_fts`, ranked by bm25); PostgreSQL a table with a
generated, weighted `tsvector` column and a GIN index (`search_documents`, ranked by ts_rank).
Both come from migration 0002 and are not in the models (see `include_object`). Callers only see:

- `search(q, filters, cursor)` -> a `Page` of `Hit`s, best first, with highlighted title and
  snippet (escaped first, then marked, so user text can never inject HTML); an empty query
  lists everything published, newest first;
- `index_story(story)`, `index_quote(quote)`, `remove(kind, item_id)`, `rebuild()`.

Staying in sync is automatic: SQLAlchemy session events re-index every published story or quote
a flush (or an ORM bulk UPDATE/DELETE) touches, in the same transaction, so publication by the
newsletter sender, editor edits, a colleague renamed - every write path - keeps the index right
without anyone calling this module. Database-level deletes are covered too (FK cascade on
PostgreSQL, triggers on SQLite). Writes through a raw Connection bypass the session; call `sync`.

Indexed text: title, body (Markdown punctuation removed), recognized colleagues' names, and the
customer's organization only when the customer consented. Unpublished items are never indexed,
and the cards shown for results are loaded with a status check anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import Protocol

import sqlalchemy as sa
from markupsafe import Markup
from markupsafe import escape
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Quote
from app.models import Recognition
from app.models import Story
from app.models import SubmissionStatus
from app.models import User
from app.models import story_tags
from app.reading.pagination import Page
from app.reading.pagination import Window
from app.reading.pagination import decode
from app.reading.pagination import fetch_page

STORY = "story"
QUOTE = "quote"
PUBLISHED = SubmissionStatus.PUBLISHED
SQLITE_TABLE = "search_fts"
POSTGRES_TABLE = "search_documents"
MAX_TERMS = 12
MAX_TERM_LENGTH = 60
PREFIX_MIN_LENGTH = 3
_CHUNK = 500
_START, _STOP = "\x02", "\x03"  # highlight markers; stripped from indexed text, so unambiguous


# --------------------------------------------------------------------------- data


def doc_key(kind: str, item_id: int) -> int:
    """One integer per document (even: story, odd: quote); the FTS5 rowid and the PG key."""
    return item_id * 2 + (1 if kind == QUOTE else 0)


def split_key(key: int) -> tuple[str, int]:
    return (QUOTE if key % 2 else STORY), key // 2


@dataclass(frozen=True, slots=True)
class Document:
    key: int
    title: str
    body: str
    people: str
    organization: str

    @property
    def kind(self) -> str:
        return split_key(self.key)[0]

    @property
    def item_id(self) -> int:
        return split_key(self.key)[1]


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Narrow a search; times are aware UTC bounds on `published_at` (from inclusive, before
    exclusive). Touchpoint and tag belong to stories only, so they leave quotes out."""

    team_id: int | None = None
    touchpoint_id: int | None = None
    tag_id: int | None = None
    published_from: datetime | None = None
    published_before: datetime | None = None

    @property
    def shape(self) -> tuple[bool, ...]:
        """Which filters are set: the statement depends on this, never on the values."""
        return tuple(value is not None for value in self.params().values())

    def params(self) -> dict[str, Any]:
        return {
            "team_id": self.team_id,
            "touchpoint_id": self.touchpoint_id,
            "tag_id": self.tag_id,
            "published_from": self.published_from,
            "published_before": self.published_before,
        }


@dataclass(frozen=True, slots=True)
class Hit:
    kind: str
    id: int
    score: float | None = None  # lower is better; None when listing newest first
    title: Markup = Markup("")
    snippet: Markup = Markup("")


# --------------------------------------------------------------------------- text


_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_IMAGE_OR_LINK_RE = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_LINE_MARKER_RE = re.compile(r"(?m)^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+][ \t]+|\d+[.)][ \t]+)+")
_EMPHASIS_RE = re.compile(r"\*\*|__|~~|`+|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])|(?<!\w)_|_(?!\w)")
_SPACE_RE = re.compile(r"\s+")


def plain_text(markdown_source: str | None) -> str:
    """Markdown source reduced to its words, cheaply: what is indexed and shown in snippets."""
    text = _CONTROL_RE.sub("", markdown_source or "")
    text = _IMAGE_OR_LINK_RE.sub(r"\1", text)
    text = _LINE_MARKER_RE.sub("", text)
    text = _EMPHASIS_RE.sub("", text)
    return _SPACE_RE.sub(" ", text).strip()


def _clean(value: str | None) -> str:
    return _SPACE_RE.sub(" ", _CONTROL_RE.sub("", value or "")).strip()


_TERM_RE = re.compile(r"\w+")


def query_terms(q: str | None) -> list[str]:
    """The words of a query: letters and digits only, so no engine syntax can get through."""
    terms = [t.lower()[:MAX_TERM_LENGTH] for t in _TERM_RE.findall(q or "")]
    return list(dict.fromkeys(terms))[:MAX_TERMS]


def mark(text: str | None) -> Markup:
    """Escape engine output, then turn the highlight markers into <mark> (never the reverse)."""
    escaped = str(escape(text or ""))
    return Markup(escaped.replace(_START, "<mark>").replace(_STOP, "</mark>"))  # noqa: S704


# --------------------------------------------------------------------------- documents


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    ordered = sorted({i for i in ids if i is not None})
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def _story_documents(conn: Connection, ids: list[int]) -> list[Document]:
    rows = conn.execute(
        sa.select(
            Story.id,
            Story.title,
            Story.body_md,
            Story.customer_organization,
            Story.customer_consent,
        ).where(Story.id.in_(ids), Story.status == PUBLISHED)
    ).all()
    if not rows:
        return []
    names: dict[int, list[str]] = {}
    for story_id, name in conn.execute(
        sa.select(Recognition.story_id, sa.func.coalesce(User.display_name, Recognition.name))
        .outerjoin(User, User.id == Recognition.user_id)
        .where(Recognition.story_id.in_([r.id for r in rows]))
        .order_by(Recognition.story_id, Recognition.position, Recognition.id)
    ):
        names.setdefault(story_id, []).append(_clean(name))
    return [
        Document(
            key=doc_key(STORY, r.id),
            title=_clean(r.title),
            body=plain_text(r.body_md),
            people=" ".join(names.get(r.id, [])),
            organization=_clean(r.customer_organization) if r.customer_consent else "",
        )
        for r in rows
    ]


def _quote_documents(conn: Connection, ids: list[int]) -> list[Document]:
    rows = conn.execute(
        sa.select(
            Quote.id, Quote.text, Quote.customer_organization, Quote.customer_consent,
            Quote.anonymous,
        ).where(Quote.id.in_(ids), Quote.status == PUBLISHED)
    ).all()  # fmt: skip
    return [
        Document(
            key=doc_key(QUOTE, r.id),
            title="",
            body=plain_text(r.text),
            people="",
            organization=(
                _clean(r.customer_organization)
                if r.customer_consent and not r.anonymous
                else ""
            ),
        )
        for r in rows
    ]


# --------------------------------------------------------------------------- engines


class _Engine(Protocol):
    """What differs between the engines; statements take the query as the `match` parameter
    (built by `match_value`), so each compiles once."""

    def replace(self, conn: Connection, keys: list[int], docs: list[Document]) -> None: ...
    def clear(self, conn: Connection) -> None: ...
    def match_value(self, terms: list[str]) -> str: ...
    def matches(self) -> sa.Subquery: ...
    def highlights(self) -> sa.TextClause: ...


def _doc_params(doc: Document) -> dict[str, Any]:
    return {
        "title": doc.title,
        "body": doc.body,
        "people": doc.people,
        "organization": doc.organization,
    }


def _all_terms(
    terms: list[str], quote: Callable[[str], str], prefix: Callable[[str], str], conjunction: str
) -> str:
    """Every term must match; the last may be a prefix, so results appear while typing."""
    parts = [quote(t) for t in terms]
    if len(terms[-1]) >= PREFIX_MIN_LENGTH:
        parts[-1] = prefix(terms[-1])
    return conjunction.join(parts)


def _match_rows(select: sa.TextClause, key_type: type[sa.Integer]) -> sa.Subquery:
    """The matches as (key, story_id, quote_id, score), the one shape `search` joins on."""
    return select.columns(
        sa.column("key", key_type),
        sa.column("story_id", sa.Integer),
        sa.column("quote_id", sa.Integer),
        sa.column("score", sa.Float),
    ).subquery("m")


class _Table:
    table: sa.TableClause

    def clear(self, conn: Connection) -> None:
        conn.execute(sa.delete(self.table))


class _SQLite(_Table):
    """FTS5, porter stemming, diacritics folded; bm25 weights title > people > org > body."""

    table = sa.table(
        SQLITE_TABLE,
        sa.column("rowid", sa.Integer),
        sa.column("title"),
        sa.column("body"),
        sa.column("people"),
        sa.column("organization"),
    )

    def replace(self, conn: Connection, keys: list[int], docs: list[Document]) -> None:
        conn.execute(sa.delete(self.table).where(self.table.c.rowid.in_(keys)))
        if docs:
            conn.execute(
                sa.insert(self.table), [{"rowid": d.key, **_doc_params(d)} for d in docs]
            )

    @staticmethod
    def match_value(terms: list[str]) -> str:
        # Every term quoted, so it is a plain token, never an operator.
        return _all_terms(terms, lambda t: f'"{t}"', lambda t: f'("{t}" OR "{t}"*)', " AND ")

    def matches(self) -> sa.Subquery:
        return _match_rows(
            sa.text(
                "SELECT rowid AS key,"
                " CASE WHEN rowid % 2 = 0 THEN rowid / 2 END AS story_id,"
                " CASE WHEN rowid % 2 = 1 THEN rowid / 2 END AS quote_id,"
                " bm25(search_fts, 10.0, 1.0, 6.0, 3.0) AS score"
                " FROM search_fts WHERE search_fts MATCH :match"
            ),
            sa.Integer,
        )

    def highlights(self) -> sa.TextClause:
        return sa.text(
            "SELECT rowid AS key, highlight(search_fts, 0, :start, :stop) AS title,"
            " snippet(search_fts, 1, :start, :stop, :ellipsis, 28) AS snippet"
            " FROM search_fts WHERE search_fts MATCH :match AND rowid IN :keys"
        ).bindparams(
            sa.bindparam("keys", expanding=True),
            sa.bindparam("match"),
            start=_START,
            stop=_STOP,
            ellipsis="…",
        )


class _PostgreSQL(_Table):
    """A generated tsvector (english config; weights A title, B people, C org, D body), GIN."""

    table = sa.table(
        POSTGRES_TABLE,
        sa.column("doc_key", sa.BigInteger),
        sa.column("story_id", sa.Integer),
        sa.column("quote_id", sa.Integer),
        sa.column("title"),
        sa.column("body"),
        sa.column("people"),
        sa.column("organization"),
    )
    _HEADLINE = f"StartSel={_START}, StopSel={_STOP}"

    def replace(self, conn: Connection, keys: list[int], docs: list[Document]) -> None:
        conn.execute(sa.delete(self.table).where(self.table.c.doc_key.in_(keys)))
        if docs:
            conn.execute(
                sa.insert(self.table),
                [
                    {
                        "doc_key": d.key,
                        "story_id": d.item_id if d.kind == STORY else None,
                        "quote_id": d.item_id if d.kind == QUOTE else None,
                        **_doc_params(d),
                    }
                    for d in docs
                ],
            )

    @staticmethod
    def match_value(terms: list[str]) -> str:
        # Terms are \w+ only, so they cannot carry tsquery operators.
        return _all_terms(terms, str, lambda t: f"({t} | {t}:*)", " & ")

    def matches(self) -> sa.Subquery:
        return _match_rows(
            sa.text(
                "SELECT d.doc_key AS key, d.story_id, d.quote_id,"
                # float8: a float4 does not survive the trip to Python and back as a cursor.
                " -CAST(ts_rank(d.document, q.query) AS double precision) AS score"
                " FROM search_documents d, to_tsquery('english', :match) AS q(query)"
                " WHERE d.document @@ q.query"
            ),
            sa.BigInteger,
        )

    def highlights(self) -> sa.TextClause:
        return sa.text(
            "SELECT d.doc_key AS key,"
            " ts_headline('english', d.title, q.query, :title_options) AS title,"
            " ts_headline('english', d.body, q.query, :body_options) AS snippet"
            " FROM search_documents d, to_tsquery('english', :match) AS q(query)"
            " WHERE d.doc_key IN :keys"
        ).bindparams(
            sa.bindparam("keys", expanding=True),
            sa.bindparam("match"),
            title_options=f"{self._HEADLINE}, HighlightAll=true",
            body_options=(
                f"{self._HEADLINE}, MaxWords=30, MinWords=12, MaxFragments=2,"
                ' FragmentDelimiter=" … "'
            ),
        )


_ENGINES: dict[str, _Engine] = {"sqlite": _SQLite(), "postgresql": _PostgreSQL()}


def _engine(dialect_name: str) -> _Engine:
    try:
        return _ENGINES[dialect_name]
    except KeyError:
        raise RuntimeError(f"Search is not available on {dialect_name}.") from None


# --------------------------------------------------------------------------- writing


def sync(conn: Connection, story_ids: Iterable[int] = (), quote_ids: Iterable[int] = ()) -> None:
    """Make the index match the database for these items: (re)index the published ones and
    drop the rest. Idempotent; reads the rows through `conn`, so it sees the current
    transaction."""
    engine = _engine(conn.dialect.name)
    for kind, ids, build in (
        (STORY, story_ids, _story_documents),
        (QUOTE, quote_ids, _quote_documents),
    ):
        for chunk in _chunks(ids):
            engine.replace(conn, [doc_key(kind, i) for i in chunk], build(conn, chunk))


def index_story(story: Story) -> None:
    """Bring one story's entry up to date (indexed if published, removed otherwise)."""
    if story.id is None:
        db.session.flush()
    sync(db.session.connection(), story_ids=[story.id])


def index_quote(quote: Quote) -> None:
    if quote.id is None:
        db.session.flush()
    sync(db.session.connection(), quote_ids=[quote.id])


def remove(kind: str, item_id: int) -> None:
    conn = db.session.connection()
    _engine(conn.dialect.name).replace(conn, [doc_key(kind, item_id)], [])


def rebuild(conn: Connection | None = None) -> int:
    """Re-create the whole index from the published rows (after bulk loads or restores).

    Returns the number of documents indexed.
    """
    conn = conn if conn is not None else db.session.connection()
    _engine(conn.dialect.name).clear(conn)
    story_ids = conn.scalars(sa.select(Story.id).where(Story.status == PUBLISHED)).all()
    quote_ids = conn.scalars(sa.select(Quote.id).where(Quote.status == PUBLISHED)).all()
    sync(conn, story_ids, quote_ids)
    return len(story_ids) + len(quote_ids)


# --------------------------------------------------------------------------- reading


def _published_conditions(
    model: type[Story] | type[Quote],
    shape: tuple[bool, ...],
    story_only: list[sa.ColumnElement[bool]],
) -> list[sa.ColumnElement[bool]]:
    """Published items of `model` within the shape's filters (bound by name, compiled once)."""
    team, _touchpoint, _tag, since, before = shape
    conditions: list[sa.ColumnElement[bool]] = [model.status == PUBLISHED]
    if team:
        conditions.append(model.team_id == sa.bindparam("team_id"))
    conditions.extend(story_only)
    when = model.published_at.type
    if since:
        conditions.append(model.published_at >= sa.bindparam("published_from", type_=when))
    if before:
        conditions.append(model.published_at < sa.bindparam("published_before", type_=when))
    return conditions


def _story_conditions(shape: tuple[bool, ...]) -> list[sa.ColumnElement[bool]]:
    _team, touchpoint, tag, _since, _before = shape
    story_only: list[sa.ColumnElement[bool]] = []
    if touchpoint:
        story_only.append(Story.touchpoint_id == sa.bindparam("touchpoint_id"))
    if tag:
        story_only.append(
            sa.exists().where(
                story_tags.c.story_id == Story.id, story_tags.c.tag_id == sa.bindparam("tag_id")
            )
        )
    return _published_conditions(Story, shape, story_only)


def _quote_conditions(shape: tuple[bool, ...]) -> list[sa.ColumnElement[bool]]:
    return _published_conditions(Quote, shape, [])


def _includes_quotes(shape: tuple[bool, ...]) -> bool:
    return not (shape[1] or shape[2])  # neither a touchpoint nor a tag


def _ranked(dialect: str, shape: tuple[bool, ...], window: Window) -> sa.Select:
    """Matches that pass the filters, best first (score, then key), one page of them.

    Without filters the index alone answers: it only ever holds published items, and the cards
    are loaded with a status check anyway. Reading each match's story row just to look at its
    status would cost more than the ranking itself.
    """
    matches = _engine(dialect).matches()
    if not any(shape):
        stmt = sa.select(matches.c.key, matches.c.score)
        return window.apply(stmt, [matches.c.score, matches.c.key])
    story_ok = sa.and_(Story.id.is_not(None), *_story_conditions(shape))
    quote_ok = (
        sa.and_(Quote.id.is_not(None), *_quote_conditions(shape))
        if _includes_quotes(shape)
        else sa.false()
    )
    stmt = (
        sa.select(matches.c.key, matches.c.score)
        .select_from(
            matches.outerjoin(Story, Story.id == matches.c.story_id).outerjoin(
                Quote, Quote.id == matches.c.quote_id
            )
        )
        .where(sa.or_(story_ok, quote_ok))
    )
    return window.apply(stmt, [matches.c.score, matches.c.key])


def _newest_first(shape: tuple[bool, ...], window: Window) -> sa.Select:
    """Everything published that passes the filters, newest first: each table is cut to one
    page on its own (status, published_at) index before the two are merged."""
    story_key = (Story.id * 2).label("key")
    branches = [
        window.apply(
            sa.select(Story.published_at.label("published_at"), story_key).where(
                *_story_conditions(shape)
            ),
            [Story.published_at, story_key],
        )
    ]
    if _includes_quotes(shape):
        quote_key = (Quote.id * 2 + 1).label("key")
        branches.append(
            window.apply(
                sa.select(Quote.published_at.label("published_at"), quote_key).where(
                    *_quote_conditions(shape)
                ),
                [Quote.published_at, quote_key],
            )
        )
    merged = sa.union_all(*(sa.select(b.subquery().c) for b in branches)).subquery("u")
    return window.apply(
        sa.select(merged.c.key, merged.c.published_at), [merged.c.published_at, merged.c.key]
    )


def search(
    q: str | None,
    filters: SearchFilters | None = None,
    cursor: str | None = None,
    *,
    limit: int = 20,
    session: Session | None = None,
) -> Page[Hit]:
    """Published stories and quotes matching every word of `q`, best first, highlighted.

    Without words, everything published (within `filters`), newest first. Two queries for a
    search (ranking, then highlights for this page only), one for a listing.
    """
    session = session or db.session
    session.flush()
    conn = session.connection()
    filters = filters or SearchFilters()
    shape = filters.shape
    terms = query_terms(q)
    if not terms:
        page = fetch_page(
            conn,
            lambda window: _newest_first(shape, window),
            decode(cursor, (datetime, int)),
            limit,
            descending=True,
            key=lambda r: (r.published_at, r.key),
            params=filters.params(),
        )
        hits = [Hit(*split_key(r.key)) for r in page.items]
        return Page(hits, page.next_cursor, page.prev_cursor)
    dialect = conn.dialect.name
    engine = _engine(dialect)
    match = engine.match_value(terms)
    page = fetch_page(
        conn,
        lambda window: _ranked(dialect, shape, window),
        decode(cursor, (float, int)),
        limit,
        descending=False,
        key=lambda row: (row.score, row.key),
        params={**filters.params(), "match": match},
    )
    marks = {}
    if page.items:
        keys = [row.key for row in page.items]
        found_marks = conn.execute(engine.highlights(), {"match": match, "keys": keys})
        marks = {r.key: r for r in found_marks}
    hits: list[Hit] = []
    for row in page.items:
        kind, item_id = split_key(row.key)
        found = marks.get(row.key)
        hits.append(
            Hit(
                kind=kind,
                id=item_id,
                score=row.score,
                title=mark(found.title) if found else Markup(""),
                snippet=mark(found.snippet) if found else Markup(""),
            )
        )
    return Page(hits, page.next_cursor, page.prev_cursor)


# --------------------------------------------------------------------------- keeping in sync

_STORY_FIELDS = ("status", "title", "body_md", "customer_organization", "customer_consent")
_QUOTE_FIELDS = ("status", "text", "customer_organization", "customer_consent", "anonymous")
_RECOGNITION_FIELDS = ("story_id", "user_id", "name")


def _changed(obj: Any, fields: Iterable[str]) -> bool:
    state = sa.inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in fields)


def _was_or_is_published(obj: Story | Quote) -> bool:
    history = sa.inspect(obj).attrs.status.history
    return obj.status == PUBLISHED or PUBLISHED in (history.deleted or ())


def _recognition_story_ids(obj: Recognition) -> set[int]:
    history = sa.inspect(obj).attrs.story_id.history
    return {i for i in (obj.story_id, *(history.deleted or ())) if i is not None}


def _after_flush(session: Session, _flush_context: Any) -> None:
    """Collect what this flush changed and re-index it on the same connection/transaction."""
    stories: set[int] = set()
    quotes: set[int] = set()
    renamed: set[int] = set()
    for obj in session.new:
        if isinstance(obj, Story) and obj.status == PUBLISHED:
            stories.add(obj.id)
        elif isinstance(obj, Quote) and obj.status == PUBLISHED:
            quotes.add(obj.id)
        elif isinstance(obj, Recognition):
            stories |= _recognition_story_ids(obj)
    for obj in session.dirty:
        if isinstance(obj, Story):
            if _was_or_is_published(obj) and _changed(obj, (*_STORY_FIELDS, "recognitions")):
                stories.add(obj.id)
        elif isinstance(obj, Quote):
            if _was_or_is_published(obj) and _changed(obj, _QUOTE_FIELDS):
                quotes.add(obj.id)
        elif isinstance(obj, Recognition):
            if _changed(obj, _RECOGNITION_FIELDS):
                stories |= _recognition_story_ids(obj)
        elif isinstance(obj, User) and _changed(obj, ("display_name",)):
            renamed.add(obj.id)
    for obj in session.deleted:
        if isinstance(obj, Story):
            stories.add(obj.id)
        elif isinstance(obj, Quote):
            quotes.add(obj.id)
        elif isinstance(obj, Recognition):
            stories |= _recognition_story_ids(obj)
    if not (stories or quotes or renamed):
        return
    conn = session.connection()
    if renamed:
        stories.update(
            conn.scalars(
                sa.select(Recognition.story_id).where(Recognition.user_id.in_(renamed))
            ).all()
        )
    sync(conn, stories, quotes)


_BULK_TABLES = {"stories": STORY, "quotes": QUOTE, "recognitions": "recognition"}


def _on_orm_execute(state: ORMExecuteState) -> Any:
    """ORM bulk UPDATE/DELETE (`session.execute(update(Story)...)`) bypasses flush events:
    note which items the statement targets, run it, then re-index them."""
    if not (state.is_update or state.is_delete):
        return None
    table = getattr(state.statement, "table", None)
    kind = _BULK_TABLES.get(getattr(table, "name", ""))
    if kind is None:
        return None
    column = table.c.story_id if kind == "recognition" else table.c.id
    targets = sa.select(column)
    if state.statement.whereclause is not None:
        targets = targets.where(state.statement.whereclause)
    conn = state.session.connection()
    ids = set(conn.scalars(targets).all())
    result = state.invoke_statement()
    if ids:
        if kind == QUOTE:
            sync(conn, quote_ids=ids)
        else:
            sync(conn, story_ids=ids)
    return result


def install() -> None:
    """Keep the index in step with every session's writes; called by app.reading.init_app
    (from create_app), never on import. Idempotent: many apps in one process share it."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _on_orm_execute)



# --------------------------------------------------------------------------- migrations


OUTSIDE_MODELS = frozenset({POSTGRES_TABLE, "reading_content_version"})


def is_search_object(name: str | None) -> bool:
    """Tables the reading feature keeps outside the models: the FTS5 table and its shadow
    tables, the PostgreSQL documents table, the cache's content version (app.reading.cache),
    and the customer voice's full-text objects (`verbatims_fts*`, migration 0010)."""
    return bool(name) and (
        name in OUTSIDE_MODELS or str(name).startswith((SQLITE_TABLE, "verbatims_fts"))
    )


def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """Alembic filter: skip the search tables before reflection (the models do not have them)."""
    return not (type_ == "table" and is_search_object(name))


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic filter: leave the search objects out of autogenerate comparisons."""
    if type_ == "table":
        return not is_search_object(name)
    table = getattr(obj, "table", None)
    return not (is_search_object(getattr(table, "name", None)) or is_search_object(name))
