"""Database binding: SQLite gets WAL, a busy timeout and foreign keys on every connection, and
transactions that say at BEGIN whether they will write.

SQLite allows one writer at a time. A transaction that begins with a plain (deferred) BEGIN,
reads, and only then writes cannot wait for the write lock: if another connection committed since
its first read, its snapshot is stale and SQLite answers "database is locked" at once, whatever
the busy timeout. So every transaction that may write begins with BEGIN IMMEDIATE, which takes
the write lock first and waits for it (up to SQLITE_BUSY_TIMEOUT_MS) like a queue:

- requests with an unsafe method (POST, PUT, PATCH, DELETE) write, unless the view is marked
  `@reads_only` (a JSON preview), until they commit: after the commit a request only builds
  its response (a redirect, a message naming the saved row), so it reads and need not queue;
- everything else reads (GET pages, the CLI and the scheduler by default) and begins deferred, so
  readers never wait for writers (WAL);
- code that writes outside such a request (a GET page that counts a view, a scheduler job, a CLI
  command) calls `begin_write()` before its first read of what it will change.

PostgreSQL needs none of this: it takes row locks as it goes, and `begin_write` leaves its
transactions alone.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TypeVar

from flask import Flask
from flask import current_app
from flask import has_request_context
from flask import request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.extensions import db

F = TypeVar("F", bound=Callable)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
WRITE_LOCK = "fgf.begin_immediate"  # in Connection.info: how the current transaction began
COMMITTED = "fgf.request_committed"  # in the WSGI environ: the request's write is done
BEGIN_POLL_MS = 10  # one try of BEGIN IMMEDIATE (SQLite polls at 1, 3, 8 and 10 ms within it)
_writing: ContextVar[bool] = ContextVar("fgf_write_transaction", default=False)


def init_database(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; plain postgresql:// would look for psycopg2.
        app.config["SQLALCHEMY_DATABASE_URI"] = uri.replace(
            "postgresql://", "postgresql+psycopg://", 1
        )
    db.init_app(app)
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
    busy_ms = int(app.config["SQLITE_BUSY_TIMEOUT_MS"])
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine, busy_ms)


def reads_only(view: F) -> F:
    """Mark a view with an unsafe method that never writes, so it does not queue for the lock."""
    view._reads_only = True  # type: ignore[attr-defined]
    return view


def wants_write_lock() -> bool:
    """Whether the transaction about to begin should take SQLite's write lock at BEGIN."""
    if _writing.get():
        return True
    if not has_request_context() or request.method in SAFE_METHODS:
        return False
    if request.environ.get(COMMITTED):
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return not getattr(view, "_reads_only", False)


def reads_from_now_on() -> None:
    """The rest of this request only reads: an error page after a refused or failed write
    must not queue for the write lock again (nor wait out the busy timeout a second time)."""
    if has_request_context():
        request.environ[COMMITTED] = True


def begin_write() -> None:
    """Make the session's transaction a write transaction from here on; the caller commits.

    Inside one already (an unsafe request, PostgreSQL) this changes nothing. On SQLite, in a
    read transaction, that transaction is committed first (it had nothing to write: only its
    snapshot ends, and with it objects loaded so far expire), because it could not wait for the
    lock; the next one begins with BEGIN IMMEDIATE, right now.
    """
    session = db.session()
    if session.in_transaction():
        if _holds_write_lock():
            return
        session.commit()
    token = _writing.set(True)
    try:
        session.connection()
    finally:
        _writing.reset(token)


def _after_commit(session: Session) -> None:
    # Releasing a savepoint "commits" too; only the outermost commit ends the request's write.
    if has_request_context() and not session.in_nested_transaction():
        request.environ[COMMITTED] = True


def _holds_write_lock() -> bool:
    """True on PostgreSQL (nothing to upgrade), and on SQLite after BEGIN IMMEDIATE."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return True
    return bool(connection.info.get(WRITE_LOCK))


def _configure_sqlite(engine: Engine, busy_ms: int) -> None:
    """Per-connection pragmas, and explicit BEGIN so SAVEPOINTs and transactions behave.

    pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; the recipe from the
    SQLAlchemy docs hands transaction control back to SQLAlchemy, which also lets us choose
    between BEGIN and BEGIN IMMEDIATE (see the module docstring).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms:d}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            # Read the file through a memory map (no read() system call per page) with a larger
            # page cache: the insights read a year of index ranges from a file far above the
            # 2 MB default cache (docs/performance.md).
            cursor.execute("PRAGMA mmap_size = 268435456")
            cursor.execute("PRAGMA cache_size = -32768")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        immediate = wants_write_lock()
        conn.info[WRITE_LOCK] = immediate
        if immediate:
            _begin_immediate(conn.connection.driver_connection, busy_ms)
        else:
            conn.exec_driver_sql("BEGIN")


def _begin_immediate(dbapi_connection: sqlite3.Connection, busy_ms: int) -> None:
    """BEGIN IMMEDIATE, waiting up to `busy_ms` for the write lock, polling at a steady pace.

    SQLite's own busy handler backs off to one try every 100 ms, so the writer that has waited
    longest tries least often and newcomers overtake it: with 16 people saving at once some
    waited past the timeout while the median wait was under half a second. Short tries in a
    loop give every waiting writer the same chance at each release.
    """
    deadline = time.monotonic() + busy_ms / 1000
    dbapi_connection.execute(f"PRAGMA busy_timeout = {min(BEGIN_POLL_MS, busy_ms):d}")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {busy_ms:d}")
