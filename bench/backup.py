"""Time and size of `flask backup create / verify / restore` on a realistic database.

    .venv/bin/python bench/backup.py                       # 20,000 deliveries, temp SQLite DB
    .venv/bin/python bench/backup.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/backup.py --deliveries 100000 --upload-mb 50
    .venv/bin/python bench/backup.py --gzip                # PATH ending in .tar.gz

Seeds a throwaway database (a temp SQLite file, or a fresh database on the given PostgreSQL
server, dropped afterwards) through the migrations and bulk inserts: N people, a sent edition
with one delivery each (sent, with a Message-ID), a year of audit events (one per delivery),
and UPLOAD_DIR with --upload-mb of incompressible files (photos-like, 40 KB each). Then runs the
services the CLI calls (create, verify, restore) in this process and prints each one's
wall-clock time, the archive's size and the database's share of it. Restore is measured into
the same database (as after a disk loss and reinstall, minus the reinstall).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

CHUNK = 5_000
FILE_BYTES = 40_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--upload-mb", type=int, default=10)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: a SQLite file)")
    parser.add_argument("--gzip", action="store_true", help="write backup.tar.gz (compressed)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="fgf-bench-backup-") as tmp:
        work = Path(tmp)
        url, drop = _database(args.database_url, work)
        try:
            return _run(url, work, args.deliveries, args.upload_mb, args.gzip)
        finally:
            drop()


def _database(server: str | None, work: Path):
    if not server:
        return f"sqlite:///{work / 'bench.db'}", lambda: None
    base = sa.make_url(server).set(drivername="postgresql+psycopg")
    name = f"fgf_bench_backup_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def _run(url: str, work: Path, deliveries: int, upload_mb: int, gzip: bool) -> int:
    from flask_migrate import upgrade

    from app import create_app
    from app.backup.services import create_backup
    from app.backup.services import restore_backup
    from app.backup.services import verify_backup
    from app.extensions import db

    uploads = work / "uploads"
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, UPLOAD_DIR=str(uploads),
                     LOG_LEVEL="WARNING")  # fmt: skip
    with app.app_context():
        upgrade()
        _seed(deliveries)
        _files(uploads, upload_mb)
        kind = db.engine.dialect.name
        path = work / ("backup.tar.gz" if gzip else "backup.tar")

        started = time.perf_counter()
        made = create_backup(path)
        create_s = time.perf_counter() - started
        started = time.perf_counter()
        verify_backup(path)
        verify_s = time.perf_counter() - started
        started = time.perf_counter()
        restored = restore_backup(path)
        restore_s = time.perf_counter() - started
        db.engine.dispose()

    manifest = made.manifest
    database = next(f for f in manifest.files if f.path == manifest.database_member)
    uploaded = sum(f.size for f in manifest.upload_files)
    print(f"database: {kind}; {manifest.tables['deliveries']:,} deliveries, "
          f"{manifest.rows:,} rows in {len(manifest.tables)} tables; "
          f"{len(manifest.upload_files):,} upload files ({uploaded / 1e6:.1f} MB)")  # fmt: skip
    print(f"archive:  {made.size / 1e6:.1f} MB (database {database.size / 1e6:.1f} MB)")
    print(f"create:   {create_s:.2f} s")
    print(f"verify:   {verify_s:.2f} s")
    print(f"restore:  {restore_s:.2f} s ({sum(restored.tables.values()):,} rows checked)")
    return 0


def _seed(count: int) -> None:
    from app.extensions import db
    from app.models import AuditEvent
    from app.models import Delivery
    from app.models import DeliveryStatus
    from app.models import Edition
    from app.models import EditionStatus
    from app.models import Role
    from app.models import User
    from app.models import utcnow

    now = utcnow()
    for start in range(0, count, CHUNK):
        db.session.execute(sa.insert(User), [
            {"email": f"person{i}@staff.example.com", "display_name": f"Person{i} Example",
             "role": Role.EMPLOYEE, "is_active": True, "email_opt_out": False,
             "security_stamp": f"s{i}", "created_at": now}
            for i in range(start, min(start + CHUNK, count))
        ])  # fmt: skip
    edition = Edition(number=1, status=EditionStatus.SENT, subject="A week", sent_at=now)
    db.session.add(edition)
    db.session.flush()
    ids = list(db.session.scalars(sa.select(User.id).order_by(User.id)))
    for start in range(0, count, CHUNK):
        batch = ids[start : start + CHUNK]
        db.session.execute(sa.insert(Delivery), [
            {"edition_id": edition.id, "email": f"person{n}@staff.example.com", "user_id": uid,
             "recipient_name": f"Person{n} Example", "status": DeliveryStatus.SENT, "attempts": 1,
             "message_id": f"<fgf.1.{uid}@example.com>", "sent_at": now, "created_at": now}
            for n, uid in enumerate(batch, start=start)
        ])  # fmt: skip
        db.session.execute(sa.insert(AuditEvent), [
            {"actor_id": uid, "action": "bench.event", "object_type": "user", "object_id": uid,
             "details": {"n": uid}, "created_at": now}
            for uid in batch
        ])  # fmt: skip
    db.session.commit()


def _files(root: Path, megabytes: int) -> None:
    photos = root / "photos"
    photos.mkdir(parents=True)
    for i in range(megabytes * 1_000_000 // FILE_BYTES):
        (photos / f"{i:05d}-256.jpg").write_bytes(os.urandom(FILE_BYTES))


if __name__ == "__main__":
    sys.exit(main())
