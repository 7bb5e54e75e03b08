"""Keyset pages with opaque cursors.

A list is ordered by columns ending in a unique one (e.g. published_at DESC, id DESC); the
cursor is the last row's values, signed (itsdangerous) so a client can neither forge one nor
mistake it for an offset. The next page is `WHERE (columns) < (cursor values)`: its cost does
not grow with the page number, and rows inserted meanwhile neither repeat nor vanish.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from typing import Generic
from typing import TypeVar

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

from app.api.problems import ApiProblem

T = TypeVar("T")
LIMIT_MAX = 200
CURSOR_MAX = 400


class PageQuery(BaseModel):
    """The paging parameters every list takes (resource filters extend this model)."""

    model_config = ConfigDict(extra="ignore")

    limit: int | None = Field(
        None, ge=1, le=LIMIT_MAX,
        description="Items per page (default API_PAGE_SIZE, 50; at most 200).")
    cursor: str | None = Field(
        None, min_length=1, max_length=CURSOR_MAX,
        description="The `next_cursor` of the previous page; omit it for the first page.")


class Page(BaseModel, Generic[T]):
    """A page of a list: follow `next_cursor` (or the `Link: rel="next"` header) until null."""

    data: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at "
                                                "the end.")


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="feelgood.api.cursor")


def _encode_value(value: Any) -> Any:
    return {"t": value.isoformat()} if isinstance(value, datetime) else value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and "t" in value:
        return datetime.fromisoformat(value["t"])
    return value


def encode(values: Sequence[Any], scope: str) -> str:
    """`scope` ties a cursor to its list (and filters): another list refuses it."""
    return _serializer().dumps([scope, [_encode_value(v) for v in values]])


def decode(cursor: str, scope: str, width: int) -> list[Any]:
    try:
        stored_scope, values = _serializer().loads(cursor)
        if stored_scope != scope or not isinstance(values, list) or len(values) != width:
            raise ValueError
        return [_decode_value(v) for v in values]
    except (BadSignature, ValueError, TypeError, KeyError):
        raise ApiProblem(
            422, "The cursor is not one this list gave out (or its filters changed). Start "
            "again without a cursor.", kind="validation",
            errors=[{"detail": "Not a valid cursor for this list.", "parameter": "cursor"}],
        ) from None


def page_size(query: PageQuery) -> int:
    return query.limit or int(current_app.config["API_PAGE_SIZE"])


def keyset(
    statement: sa.Select,
    order: Sequence[tuple[Any, bool]],
    query: PageQuery,
    *,
    scope: str,
    key: Callable[[Any], Sequence[Any]],
    session: Any,
    rows: bool = False,
) -> tuple[list[Any], str | None]:
    """One page of `statement`, ordered by `order` ((column, descending) pairs, the last one
    unique), after `query.cursor`; `key(row)` gives a row's values of those columns. Returns
    the entities (`rows=True`: the result rows, for a statement of several columns) and the
    next cursor (None on the last page). Reads one row more than the page to know whether
    another page follows."""
    size = page_size(query)
    columns = [column for column, _ in order]
    descending = [desc for _, desc in order]
    if query.cursor:
        values = decode(query.cursor, scope, len(columns))
        statement = statement.where(after_clause(columns, descending, values))
    statement = statement.order_by(
        *[column.desc() if desc else column.asc() for column, desc in order]
    ).limit(size + 1)
    result = session.execute(statement)
    found = list(result.all() if rows else result.scalars().unique())
    if len(found) <= size:
        return found, None
    found = found[:size]
    return found, encode(key(found[-1]), scope)


def after_clause(columns: Sequence[Any], descending: Sequence[bool], values: Sequence[Any]):
    """Rows strictly after `values` in the order: an OR of "equal up to i, beyond at i" (works
    for mixed directions and on both databases, unlike a row-value comparison)."""
    clauses = []
    for i, (column, desc) in enumerate(zip(columns, descending, strict=True)):
        equal = [columns[j] == values[j] for j in range(i)]
        beyond = column < values[i] if desc else column > values[i]
        clauses.append(sa.and_(*equal, beyond))
    return sa.or_(*clauses)
