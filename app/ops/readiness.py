"""Readiness: can this instance serve requests now? (`/readyz`, the System status page.)

The database is probed on a connection of its own, opened for the probe and closed after it,
with a short timeout: a pooled connection (even with `pool_pre_ping`) proves only that some
connection worked once, and a probe must not hang longer than the load balancer waits. The
reason given when it fails is a short classification ("connection refused"), never the
driver's message, which can name hosts, users or a URL.

Not ready (503): the database cannot be reached, or its schema is behind the code (an instance
started before `flask db upgrade` would fail on the new columns). Ready, with a note: the schema
is *newer* than the code, which is the normal state of an old instance during an upgrade
(migrate first, then restart); taking it out of rotation then would stop the whole site.

The scheduler is reported but never makes an instance unready: web instances do not need it to
serve pages, and a load balancer that drained every instance because the scheduler died would
turn a late newsletter into an outage. The System status page and the editors' warning say it.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from app.extensions import db
from app.ops.queries import scheduler_status

log = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 3
_ENGINE_KEY = "fgf.ops.probe_engine"
PENDING = "migrations pending: run flask db upgrade"
# Substrings of driver messages -> the reason shown (lower case).
_REASONS = (
    ("connection refused", "connection refused"),
    ("timeout expired", "timed out"),
    ("timed out", "timed out"),
    ("password authentication failed", "authentication failed"),
    ("authentication failed", "authentication failed"),
    ("no pg_hba.conf entry", "connection not allowed"),
    ("does not exist", "database does not exist"),
    ("the database system is starting up", "starting up"),
    ("the database system is shutting down", "shutting down"),
    ("terminating connection", "connection terminated"),
    ("server closed the connection", "connection closed"),
    ("could not translate host name", "host not found"),
    ("name or service not known", "host not found"),
    ("too many connections", "too many connections"),
    ("unable to open database file", "cannot open the database file"),
    ("file is not a database", "not a database file"),
    ("database is locked", "database is locked"),
)


@dataclass
class DatabaseCheck:
    ok: bool
    kind: str
    reason: str | None = None  # why not ready
    note: str | None = None  # worth saying, not a failure
    connect_ms: float | None = None
    round_trip_ms: float | None = None
    revision: str | None = None
    head: str | None = None


@dataclass
class Readiness:
    database: DatabaseCheck
    scheduler: dict = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.database.ok

    def as_json(self) -> tuple[dict, int]:
        checks = {"database": {k: v for k, v in asdict(self.database).items() if v is not None}}
        if self.scheduler:
            checks["scheduler"] = self.scheduler
        if self.ready:
            return {"status": "ready", "checks": checks}, 200
        return {"status": "unavailable", "reason": f"database: {self.database.reason}",
                "checks": checks}, 503


def reason_for(error: BaseException) -> str:
    """A short, secret-free description of a connection or query failure."""
    text = str(getattr(error, "orig", None) or error).lower()
    for needle, reason in _REASONS:
        if needle in text:
            return reason
    return type(getattr(error, "orig", None) or error).__name__


@functools.lru_cache(maxsize=4)
def _scripts(directory: str) -> ScriptDirectory:
    return ScriptDirectory(directory)


def code_heads(app: Flask) -> frozenset[str]:
    """The Alembic head revision(s) this code was shipped with."""
    return frozenset(_scripts(app.extensions["migrate"].directory).get_heads())


def _known(app: Flask, revision: str) -> bool:
    try:
        return _scripts(app.extensions["migrate"].directory).get_revision(revision) is not None
    except CommandError:
        return False


def probe_engine(app: Flask) -> Engine:
    """An engine whose every connection is new (NullPool), with a short connect timeout. A
    SQLite file is opened read-write without being created (a missing file is a failure, not
    an empty database)."""
    engine = app.extensions.get(_ENGINE_KEY)
    if engine is not None:
        return engine
    url = db.engine.url
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            engine = db.engine  # an in-memory database exists only on its own connections
        else:
            uri = Path(url.database).absolute().as_uri() + "?mode=rw"
            engine = sa.create_engine(
                "sqlite://", poolclass=NullPool,
                creator=lambda: sqlite3.connect(
                    uri, uri=True, timeout=PROBE_TIMEOUT_SECONDS, check_same_thread=False),
            )
    else:
        engine = server_probe_engine(url)
    app.extensions[_ENGINE_KEY] = engine
    return engine


def server_probe_engine(url: str | sa.URL) -> Engine:
    """A probe engine for a database server (PostgreSQL): no pool, a short connect timeout."""
    return sa.create_engine(
        url, poolclass=NullPool, connect_args={"connect_timeout": PROBE_TIMEOUT_SECONDS}
    )


def check_database(app: Flask) -> DatabaseCheck:
    """Connect, `SELECT 1`, and compare the schema's revision with the code's head."""
    engine = probe_engine(app)
    check = DatabaseCheck(ok=False, kind=engine.dialect.name)
    heads = code_heads(app)
    check.head = ", ".join(sorted(heads))
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            check.connect_ms = round((time.perf_counter() - started) * 1000, 1)
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SET statement_timeout = {PROBE_TIMEOUT_SECONDS * 1000:d}")
            started = time.perf_counter()
            conn.exec_driver_sql("SELECT 1").scalar_one()
            check.round_trip_ms = round((time.perf_counter() - started) * 1000, 2)
            if not sa.inspect(conn).has_table("alembic_version"):
                check.reason = PENDING + " (the database has no schema)"
                return check
            revisions = set(conn.exec_driver_sql("SELECT version_num FROM alembic_version")
                            .scalars())
    except SQLAlchemyError as error:
        check.reason = reason_for(error)
        log.warning("readiness: database check failed: %s", error)
        return check
    check.revision = ", ".join(sorted(revisions)) or None
    if revisions and revisions <= heads:
        check.ok = True
    elif any(not _known(app, revision) for revision in revisions):
        check.ok = True  # newer than this code: an upgrade is under way (module docstring)
        check.note = "the schema is newer than this code: restart with the new release"
    else:
        check.reason = PENDING
    return check


def scheduler_check(now: datetime) -> dict:
    """The scheduler's state for the report; never a failure (module docstring)."""
    try:
        status = scheduler_status(now)
    except SQLAlchemyError as error:
        db.session.rollback()
        return {"ok": False, "message": f"heartbeats unreadable: {reason_for(error)}"}
    return {"ok": not status.missing, "message": status.message,
            "processes": len(status.processes)}


def readiness(app: Flask, now: datetime) -> Readiness:
    database = check_database(app)
    report = Readiness(database=database)
    if database.ok:
        report.scheduler = scheduler_check(now)
    return report
