"""`flask backup create|verify|restore` (issue 17): backups that really restore, on the suite's
database (SQLite, or PostgreSQL with TEST_DATABASE_URL), through the real CLI.

The round trip backs up while a writer commits, destroys the database and the uploads for real,
restores, and compares every table (reflected, all rows and columns) and every file byte for
byte. The refusals check that a damaged, forged, newer or unsafe archive changes nothing.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import sqlite3
import tarfile
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import upgrade
from PIL import Image

from app.audit import record
from app.backup.manifest import Manifest
from app.backup.manifest import parse
from app.backup.postgres import _conninfo
from app.branding.services import save_logo
from app.errors import ValidationError
from app.extensions import db
from app.models import EditionStatus
from app.models import Reaction
from app.models import Role
from app.newsletter.sending import create_deliveries
from app.photos.services import save_photo
from app.reading.search import include_name
from app.reading.search import include_object
from app.settings import set_settings
from app.submissions.uploads import store_cover_image
from tests import factories
from tests.fixtures.backup import AuditWriter
from tests.fixtures.backup import Scratch
from tests.fixtures.backup import destroy
from tests.fixtures.backup import files_of
from tests.fixtures.backup import rewrite_archive
from tests.fixtures.backup import scratch_app
from tests.fixtures.backup import snapshot
from tests.fixtures.database import BASE_PG_URL
from tests.fixtures.database import fresh_database
from tests.helpers_sender import seed_edition
from tests.helpers_sender import story_of


def _head() -> str:
    """The code's newest schema revision (not a constant: the next migration moves it)."""
    config = current_app.extensions["migrate"].migrate.get_config()
    return ScriptDirectory.from_config(config).get_current_head()


def _picture(color: str, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (96, 64), color).save(out, fmt)
    return out.getvalue()


def make_content(scratch: Scratch, recipients: int = 40) -> None:
    """Users, a story with a cover and recognitions, a photo, a logo, an edition with its
    deliveries, settings, reactions, audit events, and odd files under UPLOAD_DIR."""
    admin = factories.make_user(Role.ADMIN, display_name="Zoë Ångström-Ünal")
    edition = seed_edition(status=EditionStatus.SENDING, recipients=recipients)
    story = story_of(edition)
    story.cover_image = store_cover_image(io.BytesIO(_picture("orange", "JPEG")))
    story.cover_image_alt = "A café counter at dawn ☕"
    save_photo(admin, _picture("teal"))
    save_logo(_picture("navy"), actor=admin)
    set_settings({"send_time": "08:30", "extra_recipients": ["board@example.com"]}, actor=admin)
    db.session.add(Reaction(user=admin, story_id=story.id))
    record(admin, "test.content", story, note="multi\nline ✓")
    db.session.commit()
    assert create_deliveries(edition) is not None
    voice = scratch.upload_dir / "voice_imports"
    voice.mkdir(parents=True)
    (voice / "survey.data").write_bytes(bytes(range(256)) * 300)  # every byte value
    (voice / "été ☀.json").write_text('{"name": "été"}', encoding="utf-8")
    (scratch.upload_dir / "empty-dir").mkdir()
    (scratch.upload_dir / "zero.bin").write_bytes(b"")


@pytest.mark.slow
def test_round_trip_while_a_writer_commits(scratch: Scratch, tmp_path: Path):
    make_content(scratch)
    engine = scratch.engine()
    assert (
        db.session.scalar(sa.text("SELECT count(*) FROM deliveries")) == 45
    )  # 44 people and an extra address
    writer = AuditWriter(scratch.url)
    writer.start()
    writer.wait_for(20)
    before = writer.committed
    path = tmp_path / "backups" / "fgf.tar"
    path.parent.mkdir()
    result = scratch.cli("backup", "create", str(path))
    during = writer.committed
    writer.wait_for(during + 10)
    writer.stop()
    assert result.exit_code == 0, result.output
    assert "Backup written to" in result.stdout
    assert during > before  # the writer kept committing while the backup ran

    live = snapshot(engine)
    live_files = files_of(scratch.upload_dir)
    assert any(name.startswith("photos/") for name in live_files)
    assert any(name.startswith("branding/") for name in live_files)
    assert live_files["empty-dir"] is None and live_files["zero.bin"] == b""
    assert list(path.parent.iterdir()) == [path]  # no temporary file left beside it

    destroy(scratch)
    assert not scratch.upload_dir.exists()
    result = scratch.cli("backup", "restore", "--yes", str(path))
    assert result.exit_code == 0, result.output
    assert "Restored from" in result.stdout

    restored = snapshot(engine)
    engine.dispose()
    assert set(restored) == set(live)
    for name, rows in live.items():
        if name != "audit_events":
            assert restored[name] == rows, name
    # The writer's table: a consistent prefix (no gaps, every row as committed) that ends
    # between the rows committed before the backup began and after it ended.
    by_id = {row[0]: row for row in live["audit_events"]}
    got = {row[0]: row for row in restored["audit_events"]}
    top = max(got)
    assert got == {i: row for i, row in by_id.items() if i <= top}
    ticks = sum(1 for row in got.values() if row[2] == "test.tick")
    assert before <= ticks <= writer.committed
    assert files_of(scratch.upload_dir) == live_files
    # The app works on what was restored.
    assert db.session.scalar(sa.text("SELECT count(*) FROM deliveries")) == 45


def test_verify_and_refuse_to_overwrite(scratch: Scratch, tmp_path: Path):
    make_content(scratch, recipients=3)
    path = tmp_path / "fgf.tar"
    assert scratch.cli("backup", "create", str(path)).exit_code == 0
    first = path.read_bytes()
    (tmp_path / "first.tar").write_bytes(first)

    again = scratch.cli("backup", "create", str(path))
    assert again.exit_code == 1
    assert again.stderr.strip().splitlines() == [
        f"Error: {path} already exists: choose another name, or --force to replace it."
    ]
    assert path.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    inside = scratch.cli("backup", "create", str(scratch.upload_dir / "photos" / "b.tar"))
    assert inside.exit_code == 1
    assert "Error: Write the backup outside UPLOAD_DIR" in inside.stderr

    factories.make_user()
    db.session.commit()
    forced = scratch.cli("backup", "create", "--force", str(path))
    assert forced.exit_code == 0, forced.output
    assert _manifest(path).tables["users"] == _manifest(tmp_path / "first.tar").tables["users"] + 1

    checked = scratch.cli("backup", "verify", str(path))
    assert checked.exit_code == 0, checked.output
    assert f"schema {_head()}" in checked.stdout and "checksums match" in checked.stdout

    compressed = tmp_path / "fgf.tar.gz"
    assert scratch.cli("backup", "create", str(compressed)).exit_code == 0
    assert compressed.read_bytes()[:2] == b"\x1f\x8b"  # gzip
    checked = scratch.cli("backup", "verify", str(compressed))
    assert checked.exit_code == 0, checked.output


def _manifest(path: Path) -> Manifest:
    with tarfile.open(path) as tar:
        return parse(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]


def _flip_byte(path: Path, member: str) -> None:
    with tarfile.open(path) as tar:
        info = tar.getmember(member)
        offset = info.offset_data + info.size // 2
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _database_member(path: Path) -> str:
    with tarfile.open(path) as tar:
        return next(m.name for m in tar.getmembers() if m.name.startswith("database/"))


def _assert_refused(scratch: Scratch, path: Path, message: str) -> None:
    """Restore fails with one clear line and leaves the database and the uploads as they were."""
    engine = scratch.engine()
    tables, files = snapshot(engine), files_of(scratch.upload_dir)
    result = scratch.cli("backup", "restore", "--yes", str(path))
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert message in lines[0]
    assert snapshot(engine) == tables
    engine.dispose()
    assert files_of(scratch.upload_dir) == files
    beside = scratch.upload_dir.parent
    leftovers = (
        [p.name for p in beside.iterdir() if p.name.startswith(".")] if beside.exists() else []
    )
    assert leftovers == []


def test_damaged_archives_are_refused_and_nothing_changes(scratch: Scratch, tmp_path: Path):
    make_content(scratch, recipients=3)
    good = tmp_path / "good.tar"
    assert scratch.cli("backup", "create", str(good)).exit_code == 0

    tampered = tmp_path / "tampered.tar"
    tampered.write_bytes(good.read_bytes())
    _flip_byte(tampered, _database_member(tampered))
    assert scratch.cli("backup", "verify", str(tampered)).exit_code == 1
    _assert_refused(scratch, tampered, "does not match its checksum")

    photo = tmp_path / "photo.tar"
    photo.write_bytes(good.read_bytes())
    with tarfile.open(photo) as tar:
        member = next(m.name for m in tar.getmembers() if m.name.startswith("uploads/photos/"))
    _flip_byte(photo, member)
    _assert_refused(scratch, photo, "does not match its checksum")

    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _assert_refused(scratch, truncated, "nothing was restored")

    not_a_backup = tmp_path / "notes.tar"
    not_a_backup.write_bytes(b"hello" * 1000)
    _assert_refused(scratch, not_a_backup, "is not a readable backup archive")


@pytest.mark.parametrize("newer", [True, False])
def test_a_newer_or_unknown_schema_is_refused(scratch: Scratch, tmp_path: Path, newer: bool):
    """The manifest is forged (and re-checksummed, as a careful forger would) to name a newer
    or a foreign revision: this tests the revision check, not a database made by a newer app."""
    make_content(scratch, recipients=3)
    good = tmp_path / "good.tar"
    assert scratch.cli("backup", "create", str(good)).exit_code == 0
    head = _head()
    revision = f"{int(head) + 1:04d}" if newer else "f00dcafe"

    def forge(manifest: Manifest) -> None:
        manifest.revision = revision

    forged = tmp_path / "forged.tar"
    rewrite_archive(good, forged, manifest=forge)
    if newer:
        message = (
            f"This backup was made by a newer version of the app (schema {revision}; this "
            f"version knows up to {head}): upgrade the app first."
        )
    else:
        message = f"This backup's schema revision {revision} is unknown to this version"
    _assert_refused(scratch, forged, message)


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize(
    ("member", "data", "message"),
    [
        (_member("../evil"), b"owned", "unsafe path '../evil'"),
        (_member("uploads/../../evil"), b"owned", "unsafe path"),
        (_member("/tmp/evil-absolute"), b"owned", "unsafe path"),
        (_member("uploads/link", tarfile.SYMTYPE, "/etc/passwd"), None, "link or device"),
        (_member("uploads/hard", tarfile.LNKTYPE, "manifest.json"), None, "link or device"),
        (_member("uploads/dev", tarfile.CHRTYPE), None, "link or device"),
        (_member("uploads/unlisted.txt"), b"extra", "not listed: uploads/unlisted.txt"),
    ],
)
def test_unsafe_members_are_refused(scratch: Scratch, tmp_path, member, data, message):
    factories.make_user()
    db.session.commit()
    good = tmp_path / "good.tar"
    assert scratch.cli("backup", "create", str(good)).exit_code == 0
    evil = tmp_path / "evil.tar"
    rewrite_archive(good, evil, extra=((member, data),))
    _assert_refused(scratch, evil, message)
    assert not (scratch.upload_dir.parent / "evil").exists()
    assert not Path("/tmp/evil-absolute").exists()


@pytest.mark.slow
def test_an_older_backup_is_restored_then_upgraded(scratch: Scratch, tmp_path: Path):
    """A real database at revision 0012 (migrated only that far), backed up by the real
    command, restored over a database at head: the result is at head, with the old rows."""
    old_uploads = tmp_path / "old" / "uploads"
    path = tmp_path / "old.tar"
    with fresh_database(tmp_path, "old") as old_url:
        old = scratch_app(old_url, old_uploads)
        with old.app_context():
            upgrade(revision="0012")
            with db.engine.begin() as conn:
                conn.exec_driver_sql(
                    "INSERT INTO users (email, display_name, role, password_hash, is_active, "
                    "email_opt_out, security_stamp, created_at) VALUES ('old@example.com', "
                    "'Old Timer', 'employee', '', true, false, 's', '2026-03-01 00:00:00')"
                )
            (old_uploads / "photos").mkdir(parents=True)
            (old_uploads / "photos" / "old.jpg").write_bytes(b"\xff\xd8old")
            created = old.test_cli_runner().invoke(args=["backup", "create", str(path)])
            db.session.remove()
            db.engine.dispose()
    assert created.exit_code == 0, created.output
    assert "at schema 0012" in created.stdout

    make_content(scratch, recipients=3)  # what the restore replaces
    result = scratch.cli("backup", "restore", "--yes", str(path))
    assert result.exit_code == 0, result.output
    assert f"schema upgraded from 0012 to {_head()}" in result.stdout

    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == _head()
        users = conn.exec_driver_sql("SELECT email, erased_at FROM users").all()
        assert [tuple(u) for u in users] == [("old@example.com", None)]
        assert conn.exec_driver_sql("SELECT count(*) FROM deliveries").scalar() == 0
        filters = {"include_name": include_name, "include_object": include_object}
        context = MigrationContext.configure(conn, opts={"compare_type": True, **filters})
        assert compare_metadata(context, db.metadata) == []
    assert files_of(scratch.upload_dir) == {"photos": None, "photos/old.jpg": b"\xff\xd8old"}


def test_restore_asks_for_confirmation(scratch: Scratch, tmp_path: Path):
    factories.make_user()
    db.session.commit()
    path = tmp_path / "fgf.tar"
    assert scratch.cli("backup", "create", str(path)).exit_code == 0
    engine = scratch.engine()
    tables = snapshot(engine)
    answer = scratch.app.test_cli_runner().invoke(
        args=["backup", "restore", str(path)], input="n\n"
    )
    assert answer.exit_code == 1
    assert "Are the web app and the scheduler stopped" in answer.output
    assert snapshot(engine) == tables
    engine.dispose()


def _wrapper(path: Path, program: str, body: str) -> Path:
    """A stand-in for a PostgreSQL client program: runs `body`, then (maybe) the real one."""
    path.write_text(f'#!/bin/sh\n{body}\nexec {program} "$@"\n')
    path.chmod(0o755)
    return path


@pytest.mark.skipif(not BASE_PG_URL, reason="pg_dump's command line: PostgreSQL only")
def test_the_password_travels_in_the_environment_only(
    scratch: Scratch, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """The server trusts local connections, so any password works: what matters is where
    the command puts it (a command line is visible to every user in `ps`)."""
    secret = "s3cret-pw-%41"
    url = sa.make_url(scratch.url).set(password=secret).render_as_string(hide_password=False)
    seen = tmp_path / "seen"
    pg_dump = _wrapper(
        tmp_path / "pg_dump",
        "pg_dump",
        f'printf "%s\\n" "$@" > {seen}.argv; printf "%s" "$PGPASSWORD" > {seen}.env',
    )
    app = scratch_app(url, scratch.upload_dir)
    app.config["BACKUP_PG_DUMP"] = str(pg_dump)
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["backup", "create", str(tmp_path / "b.tar")])
        db.engine.dispose()
    assert result.exit_code == 0, result.output
    argv = Path(f"{seen}.argv").read_text()
    assert "--format=custom" in argv and "--snapshot=" in argv
    assert secret not in argv
    assert Path(f"{seen}.env").read_text() == secret
    assert secret not in result.output and secret not in caplog.text


@pytest.mark.skipif(not BASE_PG_URL, reason="the schema swap: PostgreSQL only")
def test_a_failed_pg_restore_puts_the_old_schema_back(scratch: Scratch, tmp_path: Path):
    make_content(scratch, recipients=3)
    path = tmp_path / "fgf.tar"
    assert scratch.cli("backup", "create", str(path)).exit_code == 0
    factories.make_user(email="after-the-backup@example.com")
    db.session.commit()
    # Reading the archive (its data streamed to stdout, counted) works; the restore fails.
    scratch.app.config["BACKUP_PG_RESTORE"] = str(
        _wrapper(
            tmp_path / "pg_restore",
            "pg_restore",
            'case " $* " in *" --file=- "*) ;; *) echo "pg_restore: error: disk full" >&2; '
            "exit 1;; esac",
        )
    )
    _assert_refused(scratch, path, "pg_restore failed: pg_restore: error: disk full")
    with db.engine.connect() as conn:
        schemas = conn.scalars(
            sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'public%'")
        )
        assert list(schemas) == ["public"]


@pytest.mark.skipif(not BASE_PG_URL, reason="PostgreSQL shows who is connected")
def test_restore_refuses_while_others_are_connected(scratch: Scratch, tmp_path: Path):
    factories.make_user()
    db.session.commit()
    path = tmp_path / "fgf.tar"
    assert scratch.cli("backup", "create", str(path)).exit_code == 0
    still_running = scratch.engine()
    with still_running.connect() as conn:  # as a web worker or scheduler would be
        conn.exec_driver_sql("SELECT 1")
        _assert_refused(scratch, path, "1 other session is connected to the database")
        forced = scratch.cli("backup", "restore", "--yes", "--force", str(path))
        assert forced.exit_code == 0, forced.output
    still_running.dispose()


# --- review findings (issue 17 backup review) ---------------------------------------------------


@pytest.mark.parametrize("lie", ["rows", "revision"])
def test_a_manifest_that_lies_about_the_database_is_refused_before_anything_changes(
    scratch: Scratch, tmp_path: Path, lie: str
):
    """An edited manifest with its checksum recomputed: every file matches it, but the database
    file holds other row counts (or another revision, one this code knows and would upgrade).
    `verify` fails, and restore refuses before it replaces anything (it used to overwrite the
    database, then notice)."""
    make_content(scratch, recipients=3)
    good = tmp_path / "good.tar"
    assert scratch.cli("backup", "create", str(good)).exit_code == 0

    def forge(manifest: Manifest) -> None:
        if lie == "rows":
            manifest.tables["users"] += 1
            manifest.tables["deliveries"] -= 1
        else:
            manifest.revision = "0012"

    forged = tmp_path / "forged.tar"
    rewrite_archive(good, forged, manifest=forge)
    if lie == "rows":
        message = (
            "The backup's database does not hold what its manifest counted (tables deliveries, "
            "users; damaged or forged): nothing was restored."
        )
    else:
        message = (
            f"The backup's database is at schema revision {_head()} but its manifest says 0012 "
            "(damaged or forged): nothing was restored."
        )
    verified = scratch.cli("backup", "verify", str(forged))
    assert verified.exit_code == 1
    assert verified.stderr.strip().splitlines() == [f"Error: {message}"]
    _assert_refused(scratch, forged, message)


@pytest.mark.skipif(not BASE_PG_URL, reason="the schema swap: PostgreSQL only")
def test_a_restored_schema_that_differs_from_the_manifest_puts_the_old_one_back(
    scratch: Scratch, tmp_path: Path
):
    """The dump passes every check before the restore, but what lands in the database differs
    (here a pg_restore that deletes rows after restoring): the count inside the restore flow
    notices it before the old schema is dropped, and the old schema is put back."""
    make_content(scratch, recipients=3)
    path = tmp_path / "fgf.tar"
    assert scratch.cli("backup", "create", str(path)).exit_code == 0
    factories.make_user(email="after-the-backup@example.com")
    db.session.commit()
    scratch.app.config["BACKUP_PG_RESTORE"] = str(
        _wrapper(
            tmp_path / "pg_restore",
            "true",
            'case " $* " in *" --file=- "*) exec pg_restore "$@";; esac\n'
            'for a in "$@"; do case "$a" in --dbname=*) target="${a#--dbname=}";; esac; done\n'
            'pg_restore "$@" || exit 1\n'
            'psql "$target" -qc "DELETE FROM audit_events" || exit 1',
        )
    )
    _assert_refused(
        scratch,
        path,
        "The backup's database does not hold what its manifest counted (tables audit_events; "
        "damaged, or written to during the restore): the database was put back as it was; "
        "nothing was restored.",
    )
    with db.engine.connect() as conn:
        schemas = conn.scalars(
            sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'public%'")
        )
        assert list(schemas) == ["public"]
        emails = conn.scalars(sa.text("SELECT email FROM users")).all()
        assert "after-the-backup@example.com" in emails


def _one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_system_errors_are_one_clear_line(scratch: Scratch, tmp_path: Path):
    """A directory that cannot hold files, a damaged gzip stream: one line on stderr, exit
    status 1, no traceback (they used to escape the CLI)."""
    factories.make_user()
    db.session.commit()
    assert _one_error_line(scratch.cli("backup", "create", "/proc/x.tar")) == (
        "Error: cannot write /proc/x.tar: No such file or directory"
    )
    assert not Path("/proc/x.tar").exists()

    good = tmp_path / "good.tar.gz"
    assert scratch.cli("backup", "create", str(good)).exit_code == 0
    data = bytearray(good.read_bytes())
    for i in range(40, len(data) - 40, 97):  # a ruined deflate stream (zlib.error inside)
        data[i] ^= 0xFF
    ruined = tmp_path / "ruined.tar.gz"
    ruined.write_bytes(bytes(data))
    line = _one_error_line(scratch.cli("backup", "verify", str(ruined)))
    assert "damaged or truncated" in line or "not a readable backup archive" in line
    _assert_refused(scratch, ruined, str(ruined))


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path):
    """The configured database cannot be read (a SQLite file that is no database; a PostgreSQL
    server that refuses connections): `backup create` says so in one line."""
    if BASE_PG_URL:
        url = sa.make_url(BASE_PG_URL).set(port=1).render_as_string(hide_password=False)
    else:
        garbage = tmp_path / "not-a-database.db"
        garbage.write_bytes(b"this is not a database " * 400)
        url = f"sqlite:///{garbage}"
    app = scratch_app(url, tmp_path / "uploads")
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["backup", "create", str(tmp_path / "b.tar")])
    line = _one_error_line(result)
    assert line.startswith("Error: cannot back up the database: ")
    assert ("Connection refused" in line) if BASE_PG_URL else ("file is not a database" in line)
    assert [p.name for p in tmp_path.iterdir() if "b.tar" in p.name] == []  # no partial left


def test_no_space_to_unpack_is_said_as_such(
    scratch: Scratch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """ENOSPC while the archive is unpacked is a full disk, not a damaged backup. The full disk
    is simulated (the copy into the staging directory raises ENOSPC, as a write does): a real
    one would need a small filesystem mounted by root."""
    factories.make_user()
    db.session.commit()
    path = tmp_path / "fgf.tar"
    assert scratch.cli("backup", "create", str(path)).exit_code == 0

    def full(source, target, length=0):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(shutil, "copyfileobj", full)
    _assert_refused(
        scratch,
        path,
        f"not enough space in {scratch.upload_dir.parent} to unpack the backup: "
        "nothing was restored.",
    )


@pytest.mark.parametrize(
    ("url", "conninfo"),
    [
        (
            "postgresql+psycopg://app@/feelgood?host=/var/run/postgresql",
            "user='app' dbname='feelgood' host='/var/run/postgresql'",
        ),
        (
            "postgresql://app:pw@db.example:6432/fg?sslmode=verify-full&sslrootcert=/etc/ca.pem"
            "&connect_timeout=5&target_session_attrs=read-write&application_name=it%27s"
            "&prepare_threshold=0",
            "host='db.example' port='6432' user='app' dbname='fg' sslmode='verify-full' "
            "sslrootcert='/etc/ca.pem' connect_timeout='5' target_session_attrs='read-write' "
            "application_name='it\\'s'",
        ),
        (
            "postgresql+psycopg://app@/fg?host=a.example:5432&host=b.example:5433",
            "user='app' dbname='fg' host='a.example,b.example' port='5432,5433'",
        ),
        (
            "postgresql://app@/fg?host=/cloudsql/proj:region:inst",
            "user='app' dbname='fg' host='/cloudsql/proj:region:inst'",
        ),
        ("postgresql://app@h/fg?password=from-query", "host='h' user='app' dbname='fg'"),
        ("postgresql:///fg?service=prod", "dbname='fg' service='prod'"),
    ],
)
def test_conninfo_keeps_every_libpq_parameter_but_the_password(
    url: str, conninfo: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PGPASSWORD", "from-the-environment")
    built, env = _conninfo(sa.make_url(url))
    assert built == conninfo
    password = sa.make_url(url).password or sa.make_url(url).query.get("password")
    assert env["PGPASSWORD"] == (password or "from-the-environment")
    assert "from-query" not in built and ":pw" not in built


def test_conninfo_leaves_the_environment_alone_without_a_password(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    assert "PGPASSWORD" not in _conninfo(sa.make_url("postgresql://app@h/fg"))[1]
    with pytest.raises(ValidationError, match="sslpassword"):
        _conninfo(sa.make_url("postgresql://app@h/fg?sslkey=/k&sslpassword=secret"))


SOCKET_DIR = Path("/var/run/postgresql")


@pytest.mark.skipif(not BASE_PG_URL, reason="pg_dump: PostgreSQL only")
@pytest.mark.skipif(
    not SOCKET_DIR.joinpath(".s.PGSQL.5432").exists(), reason="no local PostgreSQL socket"
)
def test_a_real_backup_through_a_unix_socket(
    scratch: Scratch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`?host=/var/run/postgresql` reaches pg_dump and pg_restore: PGHOST points elsewhere, so
    a conninfo without the URL's host would fail."""
    factories.make_user(email="socket@example.com")
    db.session.commit()
    base = sa.make_url(scratch.url)
    url = sa.URL.create(
        "postgresql+psycopg",
        username=base.username,
        database=base.database,
        query={"host": str(SOCKET_DIR), "connect_timeout": "5"},
    ).render_as_string(hide_password=False)
    monkeypatch.setenv("PGHOST", str(tmp_path / "no-server-here"))
    app = scratch_app(url, scratch.upload_dir)
    path = tmp_path / "socket.tar"
    with app.app_context():
        created = app.test_cli_runner().invoke(args=["backup", "create", str(path)])
        assert created.exit_code == 0, created.output
        verified = app.test_cli_runner().invoke(args=["backup", "verify", str(path)])
        assert verified.exit_code == 0, verified.output
        db.session.remove()
        db.engine.dispose()
    assert _manifest(path).tables["users"] == 1


@pytest.mark.skipif(bool(BASE_PG_URL), reason="SQLite's copy in place: SQLite only")
def test_a_sqlite_restore_that_ends_different_says_the_database_was_replaced(
    scratch: Scratch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """SQLite's copy cannot be undone: if the restored file differs from the manifest afterwards
    (here another writer commits right after the copy, as a scheduler left running would), the
    error says plainly that the database was replaced."""
    import app.backup.sqlite as backup_sqlite

    make_content(scratch, recipients=3)
    path = tmp_path / "fgf.tar"
    assert scratch.cli("backup", "create", str(path)).exit_code == 0
    copy = backup_sqlite.restore

    def restore_then_someone_writes(source: Path, target: Path, *, busy_ms: int) -> None:
        copy(source, target, busy_ms=busy_ms)
        with closing(sqlite3.connect(target)) as conn, conn:
            conn.execute("DELETE FROM reactions")

    monkeypatch.setattr(backup_sqlite, "restore", restore_then_someone_writes)
    line = _one_error_line(scratch.cli("backup", "restore", "--yes", str(path)))
    assert line == (
        "Error: The backup's database does not hold what its manifest counted (tables "
        "reactions; written to during the restore?): the database WAS replaced by the "
        "backup's; check it before starting the app."
    )
