"""PostgreSQL: `pg_dump --format=custom` and `pg_restore` (BACKUP_PG_DUMP, BACKUP_PG_RESTORE).

The password travels in the PGPASSWORD environment variable of the child process only: the
command line (visible to every user in `ps`) and the error messages carry a connection string
without it.

Restore does not use `pg_restore --clean`: that drops only what the dump contains, so tables made
by a later migration would survive next to an older backup and its upgrade would then fail
("already exists"); and a failure half-way would leave a mix. Instead the current `public`
schema is renamed aside, an empty one is created, the dump is restored into it in one
transaction, and only then is the old schema dropped; a failed restore drops the new schema and
renames the old one back, so the database is as it was. This needs the app's database role to
own the `public` schema or the database (`GRANT`s in the dump are left out with
--no-privileges, owners with --no-owner: the restoring role owns everything, as the app expects).
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine

from app.errors import ValidationError

MEMBER = "database/postgresql.dump"
_LIBPQ_QUERY = {"sslmode", "sslrootcert", "sslcert", "sslkey", "application_name", "options"}


def _conninfo(url: sa.URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment carrying it."""
    safe = sa.URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query={k: v for k, v in url.query.items() if k in _LIBPQ_QUERY},
    )
    env = dict(os.environ)
    env.pop("PGPASSWORD", None)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return safe.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError:
        raise ValidationError(
            f"{command[0]} was not found: install the PostgreSQL client programs "
            f"(or set BACKUP_PG_DUMP / BACKUP_PG_RESTORE)."
        ) from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit status {result.returncode}"
        raise ValidationError(f"{what} failed: {detail}")


def dump(conn: Connection, target: Path, *, pg_dump: str) -> None:
    """Dump the database into `target` from the snapshot of `conn`'s transaction.

    `conn` is inside a REPEATABLE READ transaction that exported its snapshot: pg_dump reads
    exactly what that transaction sees, so the row counts in the manifest (counted on `conn`)
    describe the dump exactly, whatever the app commits meanwhile.
    """
    snapshot_id = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
    conninfo, env = _conninfo(conn.engine.url)
    command = [
        pg_dump,
        "--format=custom",
        "--no-owner",
        "--no-privileges",
        f"--snapshot={snapshot_id}",
        f"--file={target}",
        f"--dbname={conninfo}",
    ]
    _run(command, env, "pg_dump")


def check(path: Path, *, pg_restore: str) -> None:
    """pg_restore reads the archive's table of contents (a truncated dump fails here)."""
    _run([pg_restore, "--list", str(path)], dict(os.environ), "Reading the dump with pg_restore")


def other_sessions(engine: Engine, *, settle_seconds: float = 2.0) -> int:
    """Client sessions on the app's database besides this one: a web app or scheduler still
    running (PostgreSQL shows them; a SQLite file does not tell who has it open). A session
    that just closed leaves the list a moment later, so a count above zero is read again for
    up to `settle_seconds`; a running app's pooled connections stay."""
    deadline = time.monotonic() + settle_seconds
    with engine.connect() as conn:
        while True:
            count = int(
                conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                ).scalar_one()
            )
            if count == 0 or time.monotonic() >= deadline:
                return count
            conn.rollback()  # pg_stat_activity is a snapshot per transaction
            time.sleep(0.1)


def restore(engine: Engine, source: Path, *, pg_restore: str) -> None:
    """Replace the `public` schema's content by the dump (see the module docstring)."""
    aside = f"public_before_restore_{uuid.uuid4().hex[:8]}"
    engine.dispose()  # our pooled connections must not keep the old tables' locks
    with engine.begin() as conn:
        conn.exec_driver_sql(f'ALTER SCHEMA public RENAME TO "{aside}"')
        conn.exec_driver_sql("CREATE SCHEMA public")
    conninfo, env = _conninfo(engine.url)
    command = [
        pg_restore,
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={conninfo}",
        str(source),
    ]
    try:
        _run(command, env, "pg_restore")
    except BaseException:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql(f'ALTER SCHEMA "{aside}" RENAME TO public')
        raise
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{aside}" CASCADE')
