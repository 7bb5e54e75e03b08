"""Backups that restore: one tar archive holding the database, the uploads and a manifest.

`create_backup` is safe while the web app and the scheduler run: the database is copied from one
consistent snapshot (SQLite's online backup API in one step; pg_dump from an exported snapshot,
the same one the manifest's row counts are read from), then UPLOAD_DIR is read file by file. So
every file the snapshot refers to is in the backup unless it was deleted between the snapshot and
the walk (a cover or photo replaced in that second); a file uploaded after the snapshot may be in
it too, unreferenced, and is pruned like any orphan. The archive is written under a temporary
name in PATH's directory and renamed at the end, so PATH never names half a backup.

`restore_backup` replaces everything: it must run with the web app, the scheduler and the voice
inbox stopped (it does not check). It changes nothing before the whole archive has been checked:
the manifest's own checksum, the kind of database, the schema revision (newer or unknown is
refused), that the members are exactly the manifest's files (no links, devices, absolute paths
or `..`), every file's size and SHA-256, and the database file itself: its schema revision and
the rows of every table must be what the manifest says (SQLite: quick_check, then counted in the
staged file; PostgreSQL: the dump's data streamed through pg_restore and its COPY rows counted),
so an edited manifest with a recomputed checksum is refused too. Then the database (PostgreSQL
counts again before the old schema is dropped: a mismatch puts it back), then the uploads
(extracted beside UPLOAD_DIR and swapped in), then the migrations if the backup is older than the
code. What the system says (a full disk, a permission, a database that is down) becomes one clear
line (a ValidationError) saying what was and was not changed.
"""

from __future__ import annotations

import errno
import importlib.metadata
import io
import logging
import os
import shutil
import sqlite3
import stat
import subprocess
import tarfile
import tempfile
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import upgrade as upgrade_schema
from sqlalchemy.engine import Connection

from app.backup import manifest as manifests
from app.backup import postgres
from app.backup import sqlite
from app.backup.manifest import FileEntry
from app.backup.manifest import HashingReader
from app.backup.manifest import Manifest
from app.errors import Conflict
from app.errors import DomainError
from app.errors import NotFound
from app.errors import ValidationError
from app.extensions import db

log = logging.getLogger(__name__)


@dataclass
class BackupResult:
    path: Path
    size: int
    manifest: Manifest
    seconds: float


@dataclass
class RestoreResult:
    manifest: Manifest
    tables: dict[str, int]  # rows per table in the restored database, before any upgrade
    upgraded_to: str | None  # the head revision when migrations ran, else None
    seconds: float


def _app_version() -> str:
    try:
        return importlib.metadata.version("feelgood")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _busy_ms() -> int:
    return int(current_app.config["SQLITE_BUSY_TIMEOUT_MS"])


def _upload_dir() -> Path:
    # Resolved: when UPLOAD_DIR is a symlink to a larger disk, the real directory is swapped.
    return Path(current_app.config["UPLOAD_DIR"]).resolve()


def _revision(conn: Connection) -> str:
    revision = MigrationContext.configure(conn).get_current_revision()
    if not revision:
        raise ValidationError("The database has no schema revision: run `flask db upgrade` first.")
    return revision


def _row_counts(conn: Connection) -> dict[str, int]:
    quote = conn.dialect.identifier_preparer.quote
    names = sa.inspect(conn).get_table_names()
    return {
        name: int(conn.exec_driver_sql(f"SELECT count(*) FROM {quote(name)}").scalar_one())  # noqa: S608
        for name in sorted(names)
    }


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _under(filename: object, places: tuple[Path, ...]) -> bool:
    if not filename:
        return True  # a write into an open file (the archive, a copy) names no file
    name = Path(str(filename)).absolute()
    return any(name == place or name.is_relative_to(place) for place in places)


@contextmanager
def _plainly(action: str, *, no_space: str, writes: tuple[Path, ...]) -> Iterator[None]:
    """What the system says (a full disk, a permission, a directory that cannot hold files,
    a database that is down or locked) as one clear line: a ValidationError. `action` says
    what failed ("cannot write /backups/x.tar"), `no_space` what a full disk means here;
    an OSError naming a file outside `writes` was a read ("cannot read FILE: ...")."""
    try:
        yield
    except DomainError:
        raise
    except OSError as error:
        if error.errno in _NO_SPACE:
            raise ValidationError(no_space) from None
        reason = error.strerror or _one_line(error)
        if not _under(error.filename, writes):
            raise ValidationError(f"cannot read {error.filename}: {reason}") from None
        raise ValidationError(f"{action}: {reason}") from None
    except sqlite3.Error as error:
        if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            raise ValidationError(no_space) from None
        raise ValidationError(f"{action}: SQLite: {_one_line(error)}") from None
    except sa.exc.OperationalError as error:
        raise ValidationError(f"{action}: {_one_line(error.orig or error)}") from None
    except subprocess.SubprocessError as error:
        raise ValidationError(f"{action}: {_one_line(error)}") from None


# --- create -------------------------------------------------------------------------------------


def create_backup(path: str | os.PathLike, *, force: bool = False) -> BackupResult:
    """Write a backup of the configured database and UPLOAD_DIR to `path` (see the module doc)."""
    started = time.monotonic()
    path = Path(path).absolute()
    if path.exists() and not force:
        raise Conflict(f"{path} already exists: choose another name, or --force to replace it.")
    if not path.parent.is_dir():
        raise ValidationError(f"The directory {path.parent} does not exist.")
    if path.parent.resolve().is_relative_to(_upload_dir()):
        raise ValidationError("Write the backup outside UPLOAD_DIR (it would contain itself).")
    no_space = f"not enough space in {path.parent} to write the backup"
    with _plainly(f"cannot write {path}", no_space=no_space, writes=(path.parent,)):
        work = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial"))
    try:
        with _plainly(f"cannot write {path}", no_space=no_space, writes=(work, path)):
            manifest = _write_archive(path, work)
            _publish(work / "backup.tar", path, force=force)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = BackupResult(path, path.stat().st_size, manifest, time.monotonic() - started)
    log.info(
        "backup created: %s (%d bytes, %s at %s, %d rows, %d upload files)",
        path,
        result.size,
        manifest.database_kind,
        manifest.revision,
        manifest.rows,
        len(manifest.upload_files),
    )
    return result


def _write_archive(path: Path, work: Path) -> Manifest:
    """The database snapshot, the uploads and the manifest into `work`/backup.tar (synced)."""
    no_space = f"not enough space in {path.parent} to write the backup"
    with _plainly("cannot back up the database", no_space=no_space, writes=(work,)):
        kind, member, revision, tables = _snapshot_database(work / "database")
    archive = work / "backup.tar"
    with tarfile.open(archive, _write_mode(path), format=tarfile.PAX_FORMAT) as tar:
        files = [_add_file(tar, work / "database", member)]
        directories, uploads = _add_uploads(tar, _upload_dir())
        files += uploads
        manifest = Manifest(
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            app_version=_app_version(),
            database_kind=kind,
            database_member=member,
            revision=revision,
            tables=tables,
            files=files,
            directories=directories,
        )
        data = manifest.to_json()
        info = tarfile.TarInfo(manifests.NAME)
        info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
        tar.addfile(info, io.BytesIO(data))
    with open(archive, "rb") as written:
        os.fsync(written.fileno())
    return manifest


def _write_mode(path: Path) -> str:
    """Plain tar, or gzip-compressed when PATH says so (.tar.gz, .tgz): a SQLite file shrinks
    to about a third; a pg_dump is compressed already and so are photos."""
    return "w:gz" if path.name.endswith((".gz", ".tgz")) else "w"


def _snapshot_database(target: Path) -> tuple[str, str, str, dict[str, int]]:
    engine = db.engine
    if engine.dialect.name == "sqlite":
        sqlite.snapshot(sqlite.database_path(engine.url.database), target, busy_ms=_busy_ms())
        copy = sa.create_engine(f"sqlite:///{target}", poolclass=sa.NullPool)
        try:
            with copy.connect() as conn:
                return "sqlite", sqlite.MEMBER, _revision(conn), _row_counts(conn)
        finally:
            copy.dispose()
    if engine.dialect.name == "postgresql":
        pg_dump = current_app.config["BACKUP_PG_DUMP"]
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                # The snapshot is the transaction's: taken at its first statement, exported
                # to pg_dump, and still the one the counts below read.
                revision = _revision(conn)
                postgres.dump(conn, target, pg_dump=pg_dump)
                tables = _row_counts(conn)
        return "postgresql", postgres.MEMBER, revision, tables
    raise ValidationError(f"Backups support SQLite and PostgreSQL, not {engine.dialect.name}.")


def _add_file(tar: tarfile.TarFile, source: Path, name: str) -> FileEntry:
    with open(source, "rb") as stream:
        return _add_stream(tar, stream, name, os.fstat(stream.fileno()))


def _add_stream(tar: tarfile.TarFile, stream, name: str, st: os.stat_result) -> FileEntry:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = st.st_size, int(st.st_mtime), 0o644
    reader = HashingReader(stream)
    try:
        tar.addfile(info, reader)
    except OSError as error:
        if error.errno is not None:  # the disk, not the file: _plainly says what
            raise
        # tarfile's "unexpected end of data": the file shrank while being read
        raise ValidationError(
            f"{name} changed while it was being backed up: run the backup again."
        ) from None
    return FileEntry(path=name, size=reader.size, sha256=reader.hexdigest())


def _add_uploads(tar: tarfile.TarFile, root: Path) -> tuple[list[str], list[FileEntry]]:
    """Every regular file and directory under UPLOAD_DIR (symlinks and devices are skipped)."""
    if not root.is_dir():
        return [], []
    directories, files = [manifests.UPLOADS_DIR], []
    top = tarfile.TarInfo(manifests.UPLOADS_DIR)
    top.type, top.mode, top.mtime = tarfile.DIRTYPE, 0o755, int(root.stat().st_mtime)
    tar.addfile(top)
    for dirpath, dirnames, filenames in os.walk(root):  # does not follow symlinks
        here = Path(dirpath)
        prefix = "/".join((manifests.UPLOADS_DIR, *here.relative_to(root).parts))
        dirnames.sort()
        for name in dirnames:
            if not (here / name).is_symlink():
                info = tarfile.TarInfo(f"{prefix}/{name}")
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                info.mtime = int((here / name).stat().st_mtime)
                tar.addfile(info)
                directories.append(info.name)
        for name in sorted(filenames):
            try:
                stream = open(here / name, "rb")  # noqa: SIM115 - closed below
            except FileNotFoundError:
                continue  # deleted since the walk listed it (an orphan pruned, a cover replaced)
            with stream:
                st = os.fstat(stream.fileno())
                if not stat.S_ISREG(st.st_mode) or (here / name).is_symlink():
                    log.warning("backup: skipped %s (not a regular file)", here / name)
                    continue
                files.append(_add_stream(tar, stream, f"{prefix}/{name}", st))
    return directories, files


def _publish(archive: Path, path: Path, *, force: bool) -> None:
    """Give the finished archive its real name: never over an existing file without --force
    (a hard link fails if the name exists, atomically), and with --force in one rename."""
    if force:
        archive.replace(path)
    else:
        try:
            os.link(archive, path)
        except FileExistsError:
            raise Conflict(f"{path} already exists: choose another name, or --force.") from None
        except OSError:  # a filesystem without hard links
            if path.exists():
                raise Conflict(f"{path} already exists: choose another name, or --force.") from None
            archive.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


# --- verify and restore -------------------------------------------------------------------------


def _schema_head() -> tuple[str, set[str]]:
    config = current_app.extensions["migrate"].migrate.get_config()
    script = ScriptDirectory.from_config(config)
    return script.get_current_head(), {r.revision for r in script.walk_revisions()}


def check_revision(revision: str) -> str | None:
    """None when the backup is at the code's head, the head when migrations must follow;
    a backup from a newer (or unknown) schema is refused."""
    head, known = _schema_head()
    if revision == head:
        return None
    if revision not in known:
        if revision.isdigit() and head.isdigit() and int(revision) > int(head):
            raise ValidationError(
                f"This backup was made by a newer version of the app (schema {revision}; this "
                f"version knows up to {head}): upgrade the app first."
            )
        raise ValidationError(
            f"This backup's schema revision {revision} is unknown to this version of the app "
            f"(head {head}): it was made by a newer version or another application."
        )
    return head


def _open_archive(path: Path) -> tarfile.TarFile:
    if not path.is_file():
        raise NotFound(f"{path} does not exist.")
    try:
        return tarfile.open(path, "r:*")  # plain or compressed, whatever its name says
    except (tarfile.TarError, EOFError, zlib.error):
        raise ValidationError(
            f"{path} is not a readable backup archive (not a tar file, plain or compressed)."
        ) from None
    except OSError as error:
        raise ValidationError(f"cannot read {path}: {error.strerror or error}") from None


def stage(path: Path, staging: Path, *, kind: str | None = None) -> Manifest:
    """Check the archive at `path` completely and extract it into the empty directory
    `staging`; raise ValidationError at the first problem. `kind` is the database kind the
    backup must be of (None: any)."""
    with _open_archive(path) as tar:
        try:
            return _stage(tar, staging, kind)
        except OSError as error:
            if error.errno in _NO_SPACE:
                raise ValidationError(
                    f"not enough space in {staging.parent} to unpack the backup: "
                    "nothing was restored."
                ) from None
            if error.filename and _under(error.filename, (staging,)):
                raise ValidationError(
                    f"cannot unpack the backup into {staging.parent}: "
                    f"{error.strerror or _one_line(error)}: nothing was restored."
                ) from None
            raise ValidationError(
                f"{path} is damaged or truncated ({_one_line(error)}): nothing was restored."
            ) from None
        except (tarfile.TarError, EOFError, zlib.error) as error:
            raise ValidationError(
                f"{path} is damaged or truncated ({_one_line(error)}): nothing was restored."
            ) from None


def _one_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _stage(tar: tarfile.TarFile, staging: Path, kind: str | None) -> Manifest:
    members: dict[str, tarfile.TarInfo] = {}
    for member in tar.getmembers():
        if member.name != manifests.NAME:
            manifests.check_member_name(member.name)
        if not (member.isfile() or member.isdir()):
            raise ValidationError(f"The backup holds a link or device ({member.name!r}): refused.")
        if member.name in members:
            raise ValidationError(f"The backup holds {member.name!r} twice: refused.")
        members[member.name] = member
    found = members.pop(manifests.NAME, None)
    if found is None or not found.isfile():
        raise ValidationError("This is not a backup made by `flask backup create` (no manifest).")
    manifest = manifests.parse(tar.extractfile(found).read())  # type: ignore[union-attr]
    if kind is not None and manifest.database_kind != kind:
        raise ValidationError(
            f"This is a {manifest.database_kind} backup; the app's database is {kind}."
        )
    check_revision(manifest.revision)

    listed = {f.path for f in manifest.files} | set(manifest.directories)
    present = set(members)
    if listed != present:
        missing, extra = sorted(listed - present), sorted(present - listed)
        raise ValidationError(
            "The backup's content does not match its manifest"
            + (f"; missing: {', '.join(missing[:3])}" if missing else "")
            + (f"; not listed: {', '.join(extra[:3])}" if extra else "")
            + " (damaged or truncated): nothing was restored."
        )
    for name in manifest.directories:
        if not members[name].isdir():
            raise ValidationError(f"The backup's {name!r} is not a directory: refused.")
        (staging / name).mkdir(parents=True, exist_ok=True)
    for entry in manifest.files:
        member = members[entry.path]
        if not member.isfile() or member.size != entry.size:
            raise ValidationError(f"The backup's {entry.path} is damaged: nothing was restored.")
        target = staging / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        with tar.extractfile(member) as source, open(target, "xb") as out:  # type: ignore[union-attr]
            reader = HashingReader(source)
            shutil.copyfileobj(reader, out, manifests.CHUNK)
        if reader.size != entry.size or reader.hexdigest() != entry.sha256:
            raise ValidationError(
                f"The backup's {entry.path} does not match its checksum (damaged): "
                "nothing was restored."
            )
    _check_database_file(manifest, staging / manifest.database_member)
    return manifest


def _check_database_file(manifest: Manifest, path: Path) -> None:
    """The database file itself holds what the manifest says (its schema revision, the rows of
    every table): a manifest edited and re-checksummed, or a dump swapped for another with its
    checksum, is refused here, before anything is replaced."""
    if manifest.database_kind == "sqlite":
        tables, revisions = sqlite.contents(path)
    else:
        tables, revisions = postgres.contents(
            path, pg_restore=current_app.config["BACKUP_PG_RESTORE"]
        )
    _compare(manifest, tables, revisions, then="nothing was restored")


def _compare(
    manifest: Manifest,
    tables: dict[str, int],
    revisions: list[str],
    *,
    then: str,
    cause: str = "damaged or forged",
) -> None:
    if revisions != [manifest.revision]:
        found = ", ".join(revisions) or "none"
        raise ValidationError(
            f"The backup's database is at schema revision {found} but its manifest says "
            f"{manifest.revision} ({cause}): {then}."
        )
    if tables != manifest.tables:
        differ = sorted(
            name
            for name in set(tables) | set(manifest.tables)
            if tables.get(name) != manifest.tables.get(name)
        )
        raise ValidationError(
            "The backup's database does not hold what its manifest counted (tables "
            f"{', '.join(differ[:5])}{', ...' if len(differ) > 5 else ''}; {cause}): "
            f"{then}."
        )


def verify_backup(path: str | os.PathLike) -> Manifest:
    """Check a backup completely (as restore would, in a temporary directory); change nothing."""
    where = Path(tempfile.gettempdir())
    with (
        _plainly(
            f"cannot unpack the backup into {where}",
            no_space=f"not enough space in {where} to unpack the backup",
            writes=(where,),
        ),
        tempfile.TemporaryDirectory(prefix="fgf-backup-verify-") as staging,
    ):
        return stage(Path(path), Path(staging))


def restore_backup(path: str | os.PathLike, *, force: bool = False) -> RestoreResult:
    """Replace the database and UPLOAD_DIR by the backup at `path` (see the module doc).

    On PostgreSQL, other sessions on the database (the web app, a scheduler) refuse it unless
    `force`: their writes would interleave with the restore."""
    started = time.monotonic()
    engine = db.engine
    kind = engine.dialect.name
    target = sqlite.database_path(engine.url.database) if kind == "sqlite" else None
    db.session.remove()
    engine.dispose()
    if kind == "postgresql" and not force:
        with _plainly("cannot reach the database", no_space="", writes=()):
            others = postgres.other_sessions(engine)
        if others:
            raise Conflict(
                f"{others} other session{'s are' if others > 1 else ' is'} connected to the "
                "database: stop the web app and the scheduler first (or --force)."
            )
    upload_dir = _upload_dir()
    with _plainly(
        f"cannot unpack the backup beside {upload_dir}",
        no_space=f"not enough space in {upload_dir.parent} to unpack the backup",
        writes=(upload_dir.parent,),
    ):
        upload_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(
            tempfile.mkdtemp(dir=upload_dir.parent, prefix=f".{upload_dir.name}.restore-")
        )
    try:
        manifest = stage(Path(path), staging, kind=kind)
        upgrade_to = check_revision(manifest.revision)
        database_file = staging / manifest.database_member
        with _plainly(
            "The database could not be restored",
            no_space="not enough space to restore the database",
            writes=(staging, *((target.parent,) if target else ())),
        ):
            tables = _restore_database(manifest, database_file, target)
        with _plainly(
            f"The database was restored, but the uploads could not be put in {upload_dir}",
            no_space=f"The database was restored, but {upload_dir.parent} has no space left "
            "for the uploads",
            writes=(staging, upload_dir.parent),
        ):
            _swap_uploads(staging / manifests.UPLOADS_DIR, upload_dir)
        if upgrade_to is not None:
            with _plainly(
                f"The backup was restored, but upgrading its schema to {upgrade_to} failed",
                no_space="The backup was restored, but its schema upgrade ran out of space",
                writes=(),
            ):
                upgrade_schema()
                engine.dispose()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info(
        "backup restored: %s (%s at %s%s, %d rows, %d upload files)",
        path,
        kind,
        manifest.revision,
        f", upgraded to {upgrade_to}" if upgrade_to else "",
        manifest.rows,
        len(manifest.upload_files),
    )
    return RestoreResult(manifest, tables, upgrade_to, time.monotonic() - started)


def _revisions(conn: Connection) -> list[str]:
    if not sa.inspect(conn).has_table("alembic_version"):
        return []
    return [
        str(r) for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars()
    ]


def _restore_database(
    manifest: Manifest, database_file: Path, target: Path | None
) -> dict[str, int]:
    """Put the staged database in place and return its row counts (before any upgrade).

    The staged file was compared with the manifest already (`_check_database_file`). PostgreSQL
    counts again inside the restore, before the old schema is dropped, so a mismatch puts the
    old schema back. SQLite's copy cannot be undone: a mismatch after it (someone wrote to the
    file meanwhile) says plainly that the database was replaced."""
    engine = db.engine
    engine.dispose()
    if target is None:
        tables: dict[str, int] = {}

        def check(conn: Connection) -> None:
            tables.update(_row_counts(conn))
            _compare(
                manifest,
                tables,
                _revisions(conn),
                then="the database was put back as it was; nothing was restored",
                cause="damaged, or written to during the restore",
            )

        postgres.restore(
            engine,
            database_file,
            pg_restore=current_app.config["BACKUP_PG_RESTORE"],
            check=check,
        )
        engine.dispose()
        return tables
    sqlite.restore(database_file, target, busy_ms=_busy_ms())
    engine.dispose()
    with engine.connect() as conn:
        tables = _row_counts(conn)
        revisions = _revisions(conn)
    _compare(
        manifest,
        tables,
        revisions,
        then="the database WAS replaced by the backup's; check it before starting the app",
        cause="written to during the restore?",
    )
    return tables


def _swap_uploads(staged: Path, upload_dir: Path) -> None:
    """Put the staged tree in UPLOAD_DIR's place: two renames on the same filesystem, so the
    directory is never half old, half new; the old tree is deleted afterwards."""
    staged.mkdir(exist_ok=True)  # a backup made without any uploads restores an empty tree
    if not upload_dir.exists():
        staged.rename(upload_dir)
        return
    aside = upload_dir.with_name(f".{upload_dir.name}.before-restore-{uuid.uuid4().hex[:8]}")
    try:
        upload_dir.rename(aside)
    except OSError:  # UPLOAD_DIR is a mount point: replace its content instead
        for child in upload_dir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        for child in staged.iterdir():
            shutil.move(child, upload_dir / child.name)
        return
    staged.rename(upload_dir)
    shutil.rmtree(aside, ignore_errors=True)
