"""Keyset (cursor) pagination: every page costs the same, however deep the reader goes.

OFFSET makes the database walk and discard every earlier row, so page 500 of the archive would
be 500 times dearer than page 1. A keyset page instead starts right after the last row the reader
saw: `WHERE (published_at, id) < (:last_published_at, :last_id) ORDER BY ... LIMIT n + 1`, which
an index answers directly. The extra row tells whether there is a next page without a COUNT.

Cursors are opaque URL-safe strings holding the boundary row's sort key and a direction; a
garbled or tampered cursor is simply ignored (the reader gets the first page), never an error.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import Generic
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.numbers import bounded_int

T = TypeVar("T")
Key = tuple[Any, ...]

MAX_CURSOR_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position between two rows: after `values` (forward) or before them (`backward`)."""

    values: Key
    backward: bool = False


@dataclass(slots=True)
class Page(Generic[T]):
    """One page of items; `next_cursor` leads further down the order, `prev_cursor` back up."""

    items: list[T] = field(default_factory=list)
    next_cursor: str | None = None
    prev_cursor: str | None = None


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def encode(values: Key, *, backward: bool = False) -> str:
    payload = json.dumps([[_encode_value(v) for v in values], int(backward)], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode_value(raw: Any, kind: type) -> Any:
    if kind is datetime:
        value = datetime.fromisoformat(raw)
        if value.tzinfo is None:
            raise ValueError("naive time in cursor")
        return value.astimezone(UTC)
    if isinstance(raw, bool):
        raise ValueError("not a number")
    if kind is float and isinstance(raw, int | float):
        return float(raw)
    if kind is int and isinstance(raw, int):
        return bounded_int(raw)  # a forged id beyond the column would fail in the driver
    raise ValueError(f"not a {kind.__name__}")


def decode(token: str | None, kinds: Sequence[type]) -> Cursor | None:
    """The cursor in `token` if it is well-formed and has values of `kinds`; otherwise None."""
    if not token or len(token) > MAX_CURSOR_LENGTH:
        return None
    try:
        values, backward = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(values, list) or len(values) != len(kinds) or backward not in (0, 1):
            return None
        decoded = tuple(_decode_value(v, k) for v, k in zip(values, kinds, strict=True))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return None
    return Cursor(decoded, bool(backward))


@dataclass(frozen=True, slots=True)
class Window:
    """The shape of one page's slice of an ordering: whether a cursor bounds it, which way the
    index is walked, how many rows to read. It holds no values (those are the `k0`, `k1`, ...
    parameters from `cursor_params`), so a statement built for a window compiles once and
    serves every page of that shape.

    `apply` it to each SELECT that feeds the page: a UNION of two tables applies it to both
    branches (so each stops early) and to the outer query; a plain list applies it once.
    """

    keyed: bool
    scan_desc: bool
    limit: int

    def apply(self, stmt: sa.Select, columns: Sequence[sa.ColumnElement[Any]]) -> sa.Select:
        if self.keyed:
            bounds = [
                sa.bindparam(f"k{i}", type_=column.type) for i, column in enumerate(columns)
            ]
            row, bound = sa.tuple_(*columns), sa.tuple_(*bounds)
            # The redundant one-column test lets an index on the leading column bound the scan.
            if self.scan_desc:
                stmt = stmt.where(row < bound, columns[0] <= bounds[0])
            else:
                stmt = stmt.where(row > bound, columns[0] >= bounds[0])
        order = [c.desc() if self.scan_desc else c.asc() for c in columns]
        return stmt.order_by(*order).limit(self.limit + 1)


def cursor_params(cursor: Cursor | None) -> dict[str, Any]:
    return {f"k{i}": v for i, v in enumerate(cursor.values)} if cursor else {}


def fetch_page(
    conn: sa.Connection | Session,
    build: Callable[[Window], sa.Select],
    cursor: Cursor | None,
    limit: int,
    *,
    descending: bool,
    key: Callable[[Any], Key],
    params: dict[str, Any] | None = None,
) -> Page[Any]:
    """Run the statement `build(window)` returns (with `params`) and cut one page of rows.

    The statement only depends on the page's shape, never on the cursor's values, so SQLAlchemy
    compiles it once per shape. `key(row)` gives a row's sort values (what the cursor stores).
    Costs one query, or two when the reader steps back to the very top (then the first page is
    served whole, not a remainder).
    """
    backward = cursor is not None and cursor.backward
    window = Window(cursor is not None, descending != backward, limit)
    rows = list(conn.execute(build(window), {**(params or {}), **cursor_params(cursor)}).all())
    more = len(rows) > limit
    rows = rows[:limit]
    if backward:
        if not more:
            return fetch_page(
                conn, build, None, limit, descending=descending, key=key, params=params
            )
        rows.reverse()
    if not rows:
        return Page()
    has_next = True if backward else more
    has_prev = more if backward else cursor is not None
    return Page(
        items=rows,
        next_cursor=encode(key(rows[-1])) if has_next else None,
        prev_cursor=encode(key(rows[0]), backward=True) if has_prev else None,
    )
