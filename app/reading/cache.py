"""What the reading pages read, remembered until the content changes.

Everyone opens the same home page, the same popular stories and searches. Reading them costs a
dozen queries; checking whether anything changed costs one. So results are kept per process,
keyed by what was asked plus a content version: one row in `reading_content_version` (migration
0004, outside the models) that goes up after every commit that touched something these pages
show (stories, quotes, recognitions, applause, people, teams, touchpoints, tags, editions,
settings). On PostgreSQL the bump runs right after that commit, on its own connection: a reader
that sees the new version therefore also sees the new data, and no writer waits on a shared row.
On SQLite, where writers take turns anyway, it runs inside the committing transaction (data and
version become visible together) instead of queueing for the write lock a second time.

Writes that bypass the ORM session (raw SQL on a connection) are not seen; `max_age()`
(config `READING_CACHE_SECONDS`, default 300; 0 turns remembering off) bounds how stale such a
page can get. It is not what keeps pages fresh (the version is), so it can be long: with 60 s,
popular pages were recomputed every minute for nothing (docs/performance.md, "Pages").
Entries live in the app (`app.extensions`), so each app - each test - starts empty; at most
`SIZE` of them. Values are never changed after they are built, except that a story card keeps
its own rendered HTML (app.reading.views.card_html), the same for every reader.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Hashable
from typing import Any
from typing import TypeVar

import sqlalchemy as sa
from flask import current_app
from flask import has_request_context
from flask import request
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Comment
from app.models import Edition
from app.models import EditionItem
from app.models import Quote
from app.models import Reaction
from app.models import Recognition
from app.models import Setting
from app.models import Story
from app.models import Tag
from app.models import Team
from app.models import Touchpoint
from app.models import User

T = TypeVar("T")
log = logging.getLogger(__name__)

VERSION_TABLE = "reading_content_version"
SIZE = 1024
WATCHED = (Story, Quote, Recognition, Reaction, User, Team, Touchpoint, Tag, Edition, EditionItem,
           Setting, Comment)  # fmt: skip
WATCHED_TABLES = frozenset(
    {m.__table__.name for m in WATCHED} | {"story_tags"}  # type: ignore[attr-defined]
)
_CHANGED = "reading_content_changed"

_version = sa.text(f"SELECT version FROM {VERSION_TABLE} WHERE id = 1")  # noqa: S608
_bump = sa.text(f"UPDATE {VERSION_TABLE} SET version = version + 1 WHERE id = 1")  # noqa: S608


class _Store:
    """A bounded, thread-safe map of (key, version) -> (value, stored at)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, tuple[Any, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, max_age: float) -> tuple[bool, Any]:
        with self._lock:
            found = self._items.get(key)
            if found is None or time.monotonic() - found[1] > max_age:
                return False, None
            self._items.move_to_end(key)
            return True, found[0]

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = (value, time.monotonic())
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def _store() -> _Store:
    store = current_app.extensions.get("reading_cache")
    if store is None:
        store = current_app.extensions.setdefault("reading_cache", _Store(SIZE))
    return store


def max_age() -> float:
    return float(current_app.config["READING_CACHE_SECONDS"])


def content_version() -> int:
    """The content version, read once per request (kept in the WSGI environ, which unlike `g`
    never outlives the request)."""
    environ = request.environ if has_request_context() else {}
    version = environ.get("fgf.reading_version")
    if version is None:
        db.session.flush()
        version = db.session.connection().execute(_version).scalar_one()
        environ["fgf.reading_version"] = version
    return version


def remember(key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()`'s result for `key` at the current content version (computed at most once
    per process and version, within `max_age`)."""
    age = max_age()
    if age <= 0:
        return compute()
    full_key = (key, content_version())
    store = _store()
    found, value = store.get(full_key, age)
    if not found:
        value = compute()
        store.put(full_key, value)
    return value


# --------------------------------------------------------------------------- invalidation


def _touches_content(session: Session) -> bool:
    return any(
        isinstance(obj, WATCHED) for group in (session.new, session.dirty, session.deleted)
        for obj in group
    )  # fmt: skip


def _after_flush(session: Session, _context: Any) -> None:
    if not session.info.get(_CHANGED) and _touches_content(session):
        session.info[_CHANGED] = True


def _on_orm_execute(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:  # Core bulk writes too
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in WATCHED_TABLES:
            state.session.info[_CHANGED] = True


def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    if not (session.info.get(_CHANGED) or _touches_content(session)):
        return
    if session.get_bind().dialect.name != "sqlite":
        return
    session.flush()  # what the commit is about to flush sets the flag too
    if session.info.pop(_CHANGED, False):
        session.connection().execute(_bump)


def _after_commit(session: Session) -> None:
    # Releasing a savepoint "commits" too; only the outermost commit makes data visible.
    if session.in_nested_transaction() or not session.info.pop(_CHANGED, False):
        return
    try:
        with session.get_bind().begin() as conn:
            conn.execute(_bump)
    except sa.exc.SQLAlchemyError:
        # The data is committed; pages catch up within max_age at worst.
        log.warning("could not bump the reading content version", exc_info=True)


def _after_transaction_end(session: Session, transaction: Any) -> None:
    # After a commit the flag is already gone; after a rollback of the whole transaction the
    # changes are too. (A rolled-back savepoint keeps the flag: one needless bump at worst.)
    if transaction.parent is None:
        session.info.pop(_CHANGED, None)


def install() -> None:
    """Bump the content version after every commit that changed what pages show; called by
    app.reading.init_app (from create_app), never on import. Idempotent."""
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _on_orm_execute)
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_transaction_end", _after_transaction_end)

