"""Benchmark the people import (issue 13): 5,000, 50,000 and 100,000 rows, first import and
re-import, and whether its memory stays flat.

    .venv/bin/python bench/people_import.py                       # SQLite temp files
    .venv/bin/python bench/people_import.py --rows 5000 50000
    .venv/bin/python bench/people_import.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

For each size: a fresh migrated database (a SQLite temp file, or a throwaway PostgreSQL database
on the given server), 200 people already there, and a generated CSV (name, email, team, manager
email, role; 24 teams, one new; every person but the first 1 % managed by someone earlier or
later in the file). It times, through the code the page and `flask people import` use:

- **dry run**: `build_plan` (stream, validate, look up, resolve managers, classify);
- **first import**: `build_plan` + `apply_plan` + commit (the rows are new);
- **re-import**: the same file again, every row unchanged.

Baseline, in the same process and database: the fastest thing that could load the same file,
`csv.reader` + one executemany INSERT of the raw cells into a scratch table (no validation, no
lookups, no managers). The ratio says how much the import's checks cost on this machine.
Memory: peak Python allocations (tracemalloc) of each phase, in a second pass (tracemalloc slows
Python down) run in a fresh interpreter per size (so one size's leftovers never count against the
next), in total and per row of the file. The rows are staged in a temporary table and the plan is
SQL over it, so the peak should not grow with the file: "flat" means the largest size's peak is
within 1.5x of the smallest's. Targets: 50,000 rows imported in under a minute; flat memory.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.imports.plan import Options  # noqa: E402
from app.imports.plan import build_plan  # noqa: E402
from app.imports.services import apply_plan  # noqa: E402
from app.models import Role  # noqa: E402
from app.models import Team  # noqa: E402
from app.models import User  # noqa: E402

TARGET_SECONDS = 60
FLAT_RATIO = 1.5
TEAMS = [f"Team {i}" for i in range(24)]
EXISTING = 200


def write_csv(path: Path, rows: int, rng: random.Random) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["Name", "Email", "Team", "Manager email", "Role"])
        for i in range(rows):
            manager = "" if i < rows // 100 else f"person{rng.randrange(rows // 100)}@example.com"
            if i >= rows // 10 and rng.random() < 0.5:
                manager = f"person{rng.randrange(rows // 10)}@example.com"  # a middle manager
            team = "New Team" if i % 97 == 0 else rng.choice(TEAMS)
            role = "editor" if i % 500 == 0 else "employee"
            writer.writerow([f"Person {i}", f"Person{i}@Example.com", team, manager, role])


def seed(app) -> None:
    with app.app_context():
        db.session.execute(sa.insert(Team.__table__), [{"name": n} for n in TEAMS])
        db.session.execute(
            sa.insert(User.__table__),
            [{"email": f"person{i}@example.com", "display_name": f"Old Name {i}",
              "role": Role.EMPLOYEE, "security_stamp": f"s{i}"} for i in range(EXISTING)],
        )
        db.session.execute(sa.insert(User.__table__), [{
            "email": "admin@example.com", "display_name": "Admin", "role": Role.ADMIN,
            "security_stamp": "a"}])
        db.session.commit()


def baseline(app, path: Path) -> None:
    """Raw cells into a scratch table: the floor for reading the file and writing the rows."""
    scratch = sa.Table(
        "bench_people_baseline", sa.MetaData(),
        *(sa.Column(c, sa.String(255)) for c in ("name", "email", "team", "manager", "role")),
    )
    with app.app_context(), db.engine.begin() as conn:
        scratch.drop(conn, checkfirst=True)
        scratch.create(conn)
        with path.open(newline="", encoding="utf-8") as raw:
            reader = csv.reader(raw)
            next(reader)
            batch = []
            for cells in reader:
                batch.append(dict(zip(("name", "email", "team", "manager", "role"), cells,
                                      strict=True)))
                if len(batch) == 1000:
                    conn.execute(scratch.insert(), batch)
                    batch = []
            if batch:
                conn.execute(scratch.insert(), batch)
        scratch.drop(conn)


def dry_run(app, path: Path) -> None:
    with app.app_context():
        plan = build_plan(path, Options(create_teams=True))
        assert plan.ok, plan.errors[:3]
        db.session.rollback()


def import_(app, path: Path, expect_unchanged: bool) -> None:
    with app.app_context():
        plan = build_plan(path, Options(create_teams=True))
        assert plan.ok, plan.errors[:3]
        assert (plan.unchanged == plan.rows) == expect_unchanged, plan.summary()
        apply_plan(plan, Options(create_teams=True), actor=None, source=path.name)
        db.session.commit()


def timed(call: Callable[[], None]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def peak(call: Callable[[], None]) -> float:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


class Database:
    """A fresh migrated database for one run: a SQLite temp file or a throwaway PG database."""

    def __init__(self, server: str | None, workdir: Path):
        self.server, self.workdir = server, workdir
        self.name = f"fgf_bench_{uuid.uuid4().hex[:10]}"

    def __enter__(self):
        from flask_migrate import upgrade

        if self.server:
            self.admin = sa.create_engine(
                sa.make_url(self.server).set(drivername="postgresql+psycopg"),
                isolation_level="AUTOCOMMIT",
            )
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
            url = sa.make_url(self.server).set(database=self.name).render_as_string(False)
        else:
            url = f"sqlite:///{self.workdir / (self.name + '.db')}"
        self.app = create_app(
            "testing", SQLALCHEMY_DATABASE_URI=url, RATELIMIT_ENABLED=False,
            MAIL_OUTBOX_DIR=str(self.workdir / "outbox"), UPLOAD_DIR=str(self.workdir / "up"),
        )
        with self.app.app_context():
            upgrade()
        seed(self.app)
        return self.app

    def __exit__(self, *exc):
        with self.app.app_context():
            db.engine.dispose()
        if self.server:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.admin.dispose()


def memory_of(rows: int, server: str | None, workdir: Path) -> dict[str, float]:
    """Peak Python memory (MB) of each phase for `rows`, on a fresh database."""
    path = workdir / f"people-{rows}.csv"
    if not path.exists():
        write_csv(path, rows, random.Random(rows))
    with Database(server, workdir) as app:
        return {
            "baseline (csv + executemany)": peak(lambda: baseline(app, path)),
            "dry run (plan)": peak(lambda: dry_run(app, path)),
            "first import": peak(lambda: import_(app, path, False)),
            "re-import, all unchanged": peak(lambda: import_(app, path, True)),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[5_000, 50_000, 100_000])
    parser.add_argument("--database-url", help="PostgreSQL server URL (default: SQLite temp files)")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    parser.add_argument("--memory-of", type=int, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_of:
        result = memory_of(args.memory_of, args.database_url, Path(args.workdir))
        print("MEMORY " + json.dumps(result))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="fgf-bench-import-"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    engine = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{engine}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {load}\n")
    print("| Rows | Phase | Seconds | Rows/s | × baseline time | Peak Python memory | per row |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    ok = True
    peaks: dict[int, float] = {}
    for rows in args.rows:
        path = workdir / f"people-{rows}.csv"
        write_csv(path, rows, random.Random(rows))
        with Database(args.database_url, workdir) as app:
            base = timed(lambda: baseline(app, path))  # noqa: B023
            phases = {
                "baseline (csv + executemany)": base,
                "dry run (plan)": timed(lambda: dry_run(app, path)),  # noqa: B023
                "first import": timed(lambda: import_(app, path, False)),  # noqa: B023
                "re-import, all unchanged": timed(lambda: import_(app, path, True)),  # noqa: B023
            }
        memory: dict[str, float] = {}
        if not args.no_memory:
            command = [sys.executable, __file__, "--memory-of", str(rows),
                       "--workdir", str(workdir)]
            if args.database_url:
                command += ["--database-url", args.database_url]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            memory = json.loads(out.split("MEMORY ", 1)[1])
            peaks[rows] = max(mb for phase, mb in memory.items() if not phase.startswith("base"))
        for phase, seconds in phases.items():
            mb = memory.get(phase)
            mem = f"{mb:.1f} MB" if mb is not None else "—"
            per_row = f"{mb * 1e6 / rows:,.0f} B" if mb is not None else "—"
            print(f"| {rows:,} | {phase} | {seconds:.2f} | {rows / seconds:,.0f} | "
                  f"{seconds / base:.1f} | {mem} | {per_row} |", flush=True)
        if rows >= 50_000 and phases["first import"] > TARGET_SECONDS * rows / 50_000:
            ok = False
    print(f"\nTarget: 50,000 rows imported in under {TARGET_SECONDS} s: "
          f"{'met' if ok else 'MISSED'}.")
    if len(peaks) > 1:
        small, large = min(peaks), max(peaks)
        ratio = peaks[large] / peaks[small]
        flat = ratio <= FLAT_RATIO
        print(f"Memory: peak {peaks[small]:.1f} MB at {small:,} rows, {peaks[large]:.1f} MB at "
              f"{large:,} rows ({ratio:.2f}x; flat means at most {FLAT_RATIO}x): "
              f"{'flat' if flat else 'NOT FLAT'}.")
        ok = ok and flat
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
