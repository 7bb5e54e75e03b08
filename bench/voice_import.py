"""Benchmark the customer-voice file import (issue 14): 100,000 survey responses in under a
minute, with flat memory.

    .venv/bin/python bench/voice_import.py                    # 100,000 rows, SQLite temp file
    .venv/bin/python bench/voice_import.py --rows 10000       # a quick run
    .venv/bin/python bench/voice_import.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

It writes a CSV in the Qualtrics export layout (three header rows; response id, recorded date,
language, the NPS question with its _NPS_GROUP sibling, the comment, the store), with comments
of 150-300 characters of which about one in ten carries an email address, one in ten a phone
number and one in five names one of the 5,000 people in the database. Then, on a fresh migrated
database (bench/people_import.py's `Database`, plus 5,000 people with real-looking names), it
times through `app.voice.importing` exactly what `flask voice import FILE --skip-errors` does:

- **baseline**: only reading the file (csv.reader over every row), in the same process;
- **dry run**: `build_plan` (read, map, check, stage the ids, find duplicates);
- **import**: `run_import` + commit (redaction, mentions, bands, batched INSERTs);
- **re-import**: the same file again: every row a duplicate, nothing added.

Memory: the import's peak Python allocations (tracemalloc) and the process's peak resident set
(getrusage), read when 10,000, 50,000 and 100,000 rows (10 %, 50 %, 100 % of --rows) have been
read, in a second import on another fresh database. Flat: the last peak is within 1.5x of the
first. Target: 100,000 rows imported in under 60 seconds.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa  # noqa: E402
from people_import import Database  # noqa: E402

from app.extensions import db  # noqa: E402
from app.models import Origin  # noqa: E402
from app.models import QuoteSource  # noqa: E402
from app.models import Role  # noqa: E402
from app.models import Team  # noqa: E402
from app.models import User  # noqa: E402
from app.models import Verbatim  # noqa: E402
from app.models import VoiceSource  # noqa: E402
from app.voice import importing  # noqa: E402
from app.voice.files import Table  # noqa: E402
from app.voice.files import open_table  # noqa: E402
from app.voice.importing import Filters  # noqa: E402

TARGET_SECONDS = 60
FLAT_RATIO = 1.5
PEOPLE = 5_000
STORES = [f"Team {i}" for i in range(24)]  # people_import's seed creates these teams
FIRST = ["Ana", "Bruno", "Chloé", "Dmitri", "Emma", "Farid", "Grace", "Hiroshi", "Inès", "Jonas",
         "Kofi", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tomás",
         "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoë", "Aoife", "Björn", "Carmen", "Dev",
         "Elif", "Finn", "Giulia", "Hamza", "Ingrid", "Jamal", "Keiko", "Luca", "Maren", "Nico",
         "Olga", "Pablo", "Ravi", "Sofia", "Theo", "Ulla", "Vera", "Wiebke", "Yara", "Zainab"]
LAST = ["Lima", "Costa", "Dubois", "Ivanov", "Schmidt", "Haddad", "Okafor", "Tanaka", "Moreau",
        "Berg", "Mensah", "Fischer", "García", "Khan", "Nilsson", "Sharma", "Lefèvre", "Rossi",
        "Larsen", "Ortega", "Patel", "Novak", "Chen", "Ramírez", "Yılmaz", "Keller", "Murphy",
        "Lindqvist", "Navarro", "Iyer", "Demir", "O'Brien", "Bianchi", "Aziz", "Johansson",
        "Wright", "Sato", "Romano", "Vogel", "Silva", "Kowalski", "Fernández", "Rao", "Müller",
        "Andersen", "Petrov", "Jansen", "Hughes", "Hassan", "Conti", "Kaur", "Bauer", "Nowak",
        "Santos", "Eriksen", "Mazur", "Dalton", "Yamamoto", "Ferreira", "Brennan", "Wójcik",
        "Kim", "Walsh", "Gruber", "Pereira", "Horvat", "Quinn", "Lund", "Varga", "Shah", "Ito",
        "Marino", "Koch", "Lopes", "Ward", "Sousa", "Holm", "Krause", "Doyle", "Nagy", "Ali",
        "Russo", "Frank", "Costa-Reis", "Byrne", "Vasquez", "Engel", "Cruz", "Gallo", "Lang",
        "Boyle", "Mendes", "Weber", "Sandberg", "Kelly", "Pinto", "Hahn", "Rocha", "Falk", "Roy"]
OPENERS = ["Really pleased with the visit today.", "I want to say thank you for yesterday.",
           "The delivery came two days late and nobody told me why.", "Honestly the best service "
           "I have had this year.", "It was fine, nothing special, the queue was long.",
           "The product was out of stock again and the website said it was available.",
           "I called three times before anyone could help me with the refund."]
MIDDLES = ["The staff explained every option patiently and never rushed me,",
           "the store was clean and the music was not too loud,",
           "they found the right size in the back room in a couple of minutes,",
           "the app crashed twice while I was paying,", "the parking was a nightmare,",
           "the manager stepped in and sorted it out on the spot,",
           "the follow-up email answered all my questions,"]
CLOSERS = ["so I will definitely come back and recommend you to my friends.",
           "which made a stressful day a lot easier for the whole family.",
           "but I expected more for the price, to be honest.",
           "and I hope someone reads this and passes it on to the team.",
           "so please fix it before the holidays, it is really frustrating."]


def names() -> list[str]:
    rng = random.Random(7)
    combos = [f"{f} {last}" for f in FIRST for last in LAST]
    rng.shuffle(combos)
    return combos[:PEOPLE]


def comment(rng: random.Random, people: list[str]) -> str:
    text = f"{rng.choice(OPENERS)} {rng.choice(MIDDLES)} {rng.choice(CLOSERS)}"
    roll = rng.random()
    if roll < 0.2:
        text = f"{rng.choice(people)} {rng.choice(MIDDLES)} {text}"
    elif roll < 0.3:
        text += f" You can reach me at client{rng.randrange(10**6)}@example.com any time."
    elif roll < 0.4:
        text += f" Call me back on +44 20 7946 {rng.randrange(10**4):04d} please."
    while len(text) < 150:
        text += f" {rng.choice(MIDDLES)}"
    return text[:300]


def write_export(path: Path, rows: int) -> None:
    """`rows` responses in the Qualtrics CSV layout (three header rows)."""
    rng = random.Random(rows)
    people = names()
    with path.open("w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out)
        writer.writerow(["StartDate", "EndDate", "Status", "Progress", "Finished", "RecordedDate",
                         "ResponseId", "DistributionChannel", "UserLanguage", "Q1",
                         "Q1_NPS_GROUP", "Q2", "Q3"])
        writer.writerow(["Start Date", "End Date", "Response Type", "Progress", "Finished",
                         "Recorded Date", "Response ID", "Distribution Channel", "User Language",
                         "How likely are you to recommend us to a friend or colleague?",
                         "How likely are you to recommend us? - Group",
                         "What is the main reason for your score?", "Store"])
        writer.writerow([f'{{"ImportId":"{k}"}}' for k in (
            "startDate", "endDate", "status", "progress", "finished", "recordedDate",
            "_recordId", "distributionChannel", "userLanguage", "QID1", "QID1_NPS_GROUP",
            "QID2_TEXT", "QID3_TEXT")])
        for i in range(rows):
            when = f"2026-{1 + i % 11:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00"
            score = rng.choice((10, 10, 9, 9, 9, 8, 7, 6, 3, 0))
            group = 3 if score >= 9 else 2 if score >= 7 else 1
            text = comment(rng, people) if rng.random() < 0.8 else ""
            store = rng.choice(STORES) if rng.random() < 0.7 else ""
            writer.writerow([when, when, "0", "100", "1", when, f"R_{i:012d}", "email", "EN",
                             score, group, text, store])


def seed(app) -> None:
    """5,000 active people with real-looking names (mentions look for every one of them)."""
    with app.app_context():
        team_ids = list(db.session.scalars(sa.select(Team.id)))
        db.session.execute(sa.insert(User.__table__), [
            {"email": f"colleague{i}@example.com", "display_name": name, "role": Role.EMPLOYEE,
             "team_id": team_ids[i % len(team_ids)], "security_stamp": f"c{i}"}
            for i, name in enumerate(names())])
        db.session.add(VoiceSource(slug="nps", name="NPS", origin=Origin.IMPORT,
                                   channel=QuoteSource.SURVEY))
        db.session.commit()


class Checkpoints(Table):
    """The file's rows, noting memory when given row counts have been read."""

    def __init__(self, table: Table, marks: list[int], trace: bool):
        super().__init__(table.path, table.kind, table.encoding, table.delimiter)
        self.marks, self.trace, self.seen = marks, trace, {}

    def rows(self) -> Iterator[tuple[int, list]]:
        for number, cells in super().rows():
            yield number, cells
            data_rows = number - 3
            if data_rows in self.marks and data_rows not in self.seen:
                traced = tracemalloc.get_traced_memory()[1] / 1e6 if self.trace else 0.0
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                self.seen[data_rows] = (traced, rss)


def baseline(path: Path) -> None:
    with path.open(newline="", encoding="utf-8-sig") as raw:
        for _cells in csv.reader(raw):
            pass


def run(app, table: Table, sha256: str, *, dry: bool = False) -> importing.Plan:
    with app.app_context():
        source = db.session.scalar(sa.select(VoiceSource).where(VoiceSource.slug == "nps"))
        mapping, _notes = importing.start_mapping(table, "")
        if dry:
            plan = importing.build_plan(table, sha256=sha256, source=source, mapping=mapping,
                                        filters=Filters())
            db.session.rollback()
            return plan
        outcome = importing.run_import(table, filename="bench.csv", sha256=sha256,
                                       source=source, mapping=mapping, filters=Filters(),
                                       actor=None, skip_errors=True)
        db.session.commit()
        return outcome.plan


def count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(Verbatim.id))) or 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", help="PostgreSQL server URL (default: SQLite temp file)")
    args = parser.parse_args()
    rows = args.rows
    workdir = Path(tempfile.mkdtemp(prefix="fgf-bench-voice-"))
    path = workdir / "export.csv"
    write_export(path, rows)
    sha256 = importing.file_checksum(path)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    engine = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{engine}, Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
          f"{load}; {rows:,} rows, {path.stat().st_size / 1e6:.1f} MB, {PEOPLE:,} people\n")
    marks = sorted({max(1, rows // 10), max(1, rows // 2), rows})

    with Database(args.database_url, workdir) as app:
        seed(app)
        start = time.perf_counter()
        baseline(path)
        base = time.perf_counter() - start
        phases: dict[str, float] = {"baseline (read the file)": base}
        table = Checkpoints(open_table(path), marks, trace=False)
        start = time.perf_counter()
        plan = run(app, table, sha256, dry=True)
        phases["dry run"] = time.perf_counter() - start
        assert plan.adds == rows, plan.summary()
        table.seen.clear()
        start = time.perf_counter()
        plan = run(app, table, sha256)
        phases["import"] = time.perf_counter() - start
        rss = dict(table.seen)
        assert plan.adds == rows and count(app) == rows, plan.summary()
        start = time.perf_counter()
        again = run(app, open_table(path), sha256)
        phases["re-import (all duplicates)"] = time.perf_counter() - start
        assert again.adds == 0 and again.duplicates == rows and count(app) == rows

    print("| Phase | Seconds | Rows/s | × baseline |")
    print("|---|---:|---:|---:|")
    for phase, seconds in phases.items():
        print(f"| {phase} | {seconds:.2f} | {rows / seconds:,.0f} | {seconds / base:.1f} |")

    with Database(args.database_url, workdir) as app:  # a fresh one: the rows are new again
        seed(app)
        traced = Checkpoints(open_table(path), marks, trace=True)
        tracemalloc.start()
        run(app, traced, sha256)
        tracemalloc.stop()
    print("\n| Rows read | Peak Python memory (tracemalloc) | Peak RSS (getrusage, no tracing) |")
    print("|---:|---:|---:|")
    for mark in marks:
        print(f"| {mark:,} | {traced.seen[mark][0]:.1f} MB | {rss[mark][1]:.0f} MB |")
    first, last = traced.seen[marks[0]][0], traced.seen[marks[-1]][0]
    flat = last <= first * FLAT_RATIO
    fast = phases["import"] * 100_000 / rows <= TARGET_SECONDS
    print(f"\nImport: {phases['import']:.1f} s for {rows:,} rows ({rows / phases['import']:,.0f} "
          f"rows/s; target 100,000 in under {TARGET_SECONDS} s: "
          f"{'met' if fast else 'MISSED'}{'' if rows == 100_000 else ', extrapolated'}).")
    print(f"Memory: peak {first:.1f} MB at {marks[0]:,} rows, {last:.1f} MB at {marks[-1]:,} "
          f"({last / first:.2f}x; flat means at most {FLAT_RATIO}x): "
          f"{'flat' if flat else 'NOT FLAT'}.")
    return 0 if flat and fast else 1


if __name__ == "__main__":
    sys.exit(main())
