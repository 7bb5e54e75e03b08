"""SQLite through the online backup API (`sqlite3.Connection.backup`).

The copy is made in one step (pages=-1): it reads the database inside one read transaction, so
it is a consistent snapshot, and in WAL mode the app and the scheduler keep writing meanwhile
(their commits go to the WAL; the copy sees the database as of its start). Restoring goes through
the same API in the other direction, page by page into the configured file, which replaces the
whole content in one write transaction and works with the file in place (no rename under the
feet of a process that has it open).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from app.errors import ValidationError

MEMBER = "database/feelgood.sqlite3"


def database_path(database: str | None) -> Path:
    if database in (None, "", ":memory:") or str(database).startswith("file::memory:"):
        raise ValidationError("The database is in memory: there is nothing to back up or restore.")
    return Path(str(database))


def _connect(path: Path, busy_ms: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=busy_ms / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_ms):d}")
    return conn


def snapshot(source: Path, target: Path, *, busy_ms: int) -> None:
    """Copy the live database at `source` into a new file `target` (a self-contained file:
    rollback journal mode, so no -wal file beside it is needed)."""
    if not source.exists():
        raise ValidationError(f"The database file {source} does not exist.")
    with closing(_connect(source, busy_ms)) as src, closing(_connect(target, busy_ms)) as dst:
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode = DELETE")
        problem = dst.execute("PRAGMA quick_check").fetchone()[0]
    if problem != "ok":
        raise ValidationError(f"The database copy failed SQLite's check: {problem}.")


def check(path: Path) -> None:
    """SQLite's own check of a restored-to-be file (before it replaces anything)."""
    try:
        with closing(sqlite3.connect(path)) as conn:
            problem = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as error:
        raise ValidationError(
            f"The backup's database is not readable by SQLite: {error}."
        ) from None
    if problem != "ok":
        raise ValidationError(f"The backup's database failed SQLite's check: {problem}.")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def contents(path: Path) -> tuple[dict[str, int], list[str]]:
    """Rows per table of the database file at `path` (the tables SQLAlchemy lists: SQLite's
    own sqlite_* left out) and its alembic_version values, after SQLite's own check: what
    restore compares with the manifest before the file replaces anything."""
    check(path)
    try:
        with closing(sqlite3.connect(path)) as conn:
            names = sorted(
                row[0]
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite~_%' ESCAPE '~'"
                )
            )
            tables = {
                name: int(conn.execute(f"SELECT count(*) FROM {_quote(name)}").fetchone()[0])  # noqa: S608
                for name in names
            }
            revisions = (
                [str(row[0]) for row in conn.execute("SELECT version_num FROM alembic_version")]
                if "alembic_version" in tables
                else []
            )
    except sqlite3.DatabaseError as error:
        raise ValidationError(
            f"The backup's database is not readable by SQLite: {error}."
        ) from None
    return tables, revisions


def restore(source: Path, target: Path, *, busy_ms: int) -> None:
    """Replace the content of the database file `target` by the file `source`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with closing(_connect(source, busy_ms)) as src, closing(_connect(target, busy_ms)) as dst:
        src.backup(dst, pages=-1)
        # The copy carries the source's header (rollback journal); the app asks for WAL on every
        # connection it opens, so set it back now rather than leave it to the first one.
        dst.execute("PRAGMA journal_mode = WAL")
