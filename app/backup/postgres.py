"""PostgreSQL: `pg_dump --format=custom` and `pg_restore` (BACKUP_PG_DUMP, BACKUP_PG_RESTORE).

The password travels in the PGPASSWORD environment variable of the child process only: the
command line (visible to every user in `ps`) and the error messages carry a connection string
without it. Without a password in the URL the environment is passed unchanged, so a deployment's
own PGPASSWORD, PGPASSFILE or ~/.pgpass keeps working.

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
import re
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine

from app.errors import ValidationError

MEMBER = "database/postgresql.dump"

# Every libpq connection parameter (PostgreSQL 17's list) that a database URL's query may carry:
# passed on to pg_dump/pg_restore as they are, so a Unix socket (`?host=/var/run/postgresql`),
# TLS settings, timeouts and several hosts work as they do for the app. Anything else in the
# query is the Python driver's (e.g. psycopg's prepare_threshold) and libpq would refuse it.
_LIBPQ_PARAMETERS = frozenset(
    {
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "passfile",
        "require_auth",
        "channel_binding",
        "connect_timeout",
        "client_encoding",
        "options",
        "application_name",
        "fallback_application_name",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "replication",
        "gssencmode",
        "sslmode",
        "sslnegotiation",
        "requiressl",
        "sslcompression",
        "sslcert",
        "sslkey",
        "sslcertmode",
        "sslrootcert",
        "sslcrl",
        "sslcrldir",
        "sslsni",
        "requirepeer",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "krbsrvname",
        "gsslib",
        "gssdelegation",
        "service",
        "target_session_attrs",
        "load_balance_hosts",
    }
)


def _quote(value: str) -> str:
    """A libpq key=value string's value: single-quoted, backslash and quote escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _hosts(value: str | tuple[str, ...]) -> dict[str, str]:
    """SQLAlchemy's `?host=a:5432&host=b:5433` (several hosts, each with its port) in libpq's
    terms: `host=a,b port=5432,5433`; a socket directory or a bare host passes as it is."""
    hosts, ports = [], []
    for entry in (value,) if isinstance(value, str) else value:
        host, port = entry, ""
        if entry.startswith("["):  # [IPv6]:port
            host, _, rest = entry[1:].partition("]")
            port = rest.removeprefix(":")
        elif not entry.startswith("/") and entry.count(":") == 1:
            host, _, port = entry.partition(":")
        hosts.append(host)
        ports.append(port)
    found = {"host": ",".join(hosts)}
    if any(ports):
        found["port"] = ",".join(ports)
    return found


def _conninfo(url: sa.URL) -> tuple[str, dict[str, str]]:
    """A libpq `key=value` connection string with every libpq parameter of the URL (its query
    included) except the password, and the child's environment.

    The password (from the URL or its query) travels in PGPASSWORD; without one the environment
    is left as it is, so a PGPASSWORD, PGPASSFILE/.pgpass or service file of the deployment
    still works. A query value given twice (several hosts) is joined with commas, as libpq
    expects; a query value overrides the URL's part, as in a libpq URI."""
    query = {
        key: ",".join(value) if isinstance(value, tuple) else str(value)
        for key, value in url.query.items()
    }
    password = query.pop("password", None) or url.password
    if "sslpassword" in query:
        raise ValidationError(
            "The database URL carries sslpassword, which pg_dump/pg_restore could only receive "
            "on their command line (visible to every user): use a key file without a passphrase, "
            "readable by the app's user only."
        )
    params: dict[str, str] = {}
    for key, value in (
        ("host", url.host),
        ("port", url.port),
        ("user", url.username),
        ("dbname", url.database),
    ):
        if value not in (None, ""):
            params[key] = str(value)
    params.update({k: v for k, v in query.items() if k in _LIBPQ_PARAMETERS})
    if "host" in query:
        params.update(_hosts(url.query["host"]))
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    return " ".join(f"{key}={_quote(value)}" for key, value in params.items()), env


_NOT_FOUND = (
    "{program} was not found: install the PostgreSQL client programs "
    "(or set BACKUP_PG_DUMP / BACKUP_PG_RESTORE)."
)


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError:
        raise ValidationError(_NOT_FOUND.format(program=command[0])) from None
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


# `COPY public."Odd name" (a, b) FROM stdin;` as pg_restore writes a table's data.
_COPY = re.compile(rb'^COPY ("(?:[^"]|"")*"|[^ ."]+)\.("(?:[^"]|"")*"|[^ ."]+)[ ;]')


def _unquote(name: bytes) -> str:
    text = name.decode()
    return text[1:-1].replace('""', '"') if text.startswith('"') else text


def contents(path: Path, *, pg_restore: str) -> tuple[dict[str, int], list[str]]:
    """Rows per table of the `public` schema in the dump at `path`, and alembic_version's
    values: read by streaming the data through `pg_restore --data-only --file=-` (COPY text
    format: one line per row, embedded newlines escaped), so nothing is written anywhere.
    pg_restore reads the whole archive on the way: a damaged or truncated dump fails here."""
    tables: dict[str, int] = {}
    revisions: list[str] = []
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(  # noqa: S603
                [pg_restore, "--data-only", "--file=-", str(path)],
                stdout=subprocess.PIPE,
                stderr=errors,
            )
        except FileNotFoundError:
            raise ValidationError(_NOT_FOUND.format(program=pg_restore)) from None
        assert process.stdout is not None
        with process:
            current: str | None = None
            for line in process.stdout:
                if current is None:
                    if (found := _COPY.match(line)) and _unquote(found[1]) == "public":
                        current = _unquote(found[2])
                        tables[current] = 0
                elif line in (b"\\.\n", b"\\."):
                    current = None
                else:
                    tables[current] += 1
                    if current == "alembic_version":
                        revisions.append(line.rstrip(b"\n").decode())
        if process.returncode != 0:
            errors.seek(0)
            lines = [ln for ln in errors.read().decode(errors="replace").splitlines() if ln.strip()]
            detail = lines[-1] if lines else f"exit status {process.returncode}"
            raise ValidationError(f"Reading the dump with pg_restore failed: {detail}")
    return dict(sorted(tables.items())), revisions


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


def restore(
    engine: Engine, source: Path, *, pg_restore: str, check: Callable[[Connection], None]
) -> None:
    """Replace the `public` schema's content by the dump (see the module docstring). `check`
    looks at the restored schema before the old one is dropped: if it raises, the old schema
    is put back, as after a failed pg_restore."""
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
        engine.dispose()
        with engine.connect() as conn:
            check(conn)
    except BaseException:
        engine.dispose()
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql(f'ALTER SCHEMA "{aside}" RENAME TO public')
        raise
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{aside}" CASCADE')
