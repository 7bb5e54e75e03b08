"""Benchmark concurrent story submissions against gunicorn: refusals, lost writes, throughput.

    .venv/bin/python bench/concurrency.py                      # SQLite temp file, 45 s
    .venv/bin/python bench/concurrency.py --seconds 15         # a quick look
    .venv/bin/python bench/concurrency.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/concurrency.py --deferred           # SQLite as before issue 10

Seeds 20 people, 60 published stories and a sent edition into a throwaway database, serves the
production app with gunicorn (2 gthread workers x 4 threads, bench/concurrency_wsgi.py), signs
every client in through the login form, then for `--seconds` runs 16 writers, each loading the
story form and posting a new story through it (CSRF token, colleagues, tags), and 4 readers
loading the home page, story pages and the edition page (which counts a view: a write on GET).
Afterwards every acknowledged story (a redirect to its page) is looked up in the database.

Prints submissions/s, reads/s, 409 refusals, 5xx, lost and unacknowledged stories, and p50/p99
latency of the submission POSTs and of the reads. Exits non-zero on any 409, 5xx or lost story.
`--deferred` begins every SQLite transaction with a plain (deferred) BEGIN, as the app did
before issue 10, for the "before" figure.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway database
TITLE_PREFIX = "Concurrent story"
WRITERS, READERS = 16, 4


# --------------------------------------------------------------------------- data


@dataclass
class Seeded:
    writers: list[str]  # emails
    readers: list[str]
    story_ids: list[int]
    edition_number: int


def seed(conn: sa.Connection, *, writers: int = WRITERS, readers: int = READERS) -> Seeded:
    """People, published stories and a sent edition, with database-assigned ids (the server
    inserts more rows into the same tables afterwards)."""
    from app.models import Edition
    from app.models import EditionItem
    from app.models import Story
    from app.models import Team
    from app.models import User

    now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    team_id = conn.execute(
        sa.insert(Team).values(name=f"Bench team {uuid.uuid4().hex[:6]}", created_at=now)
        .returning(Team.id)
    ).scalar_one()
    password_hash = generate_password_hash(PASSWORD, method="scrypt")
    tag = uuid.uuid4().hex[:6]
    emails = [f"writer{i}-{tag}@bench.example" for i in range(writers)]
    emails += [f"reader{i}-{tag}@bench.example" for i in range(readers)]
    conn.execute(sa.insert(User.__table__), [
        {"email": email, "display_name": f"Bench Person {i}", "team_id": team_id,
         "role": "employee", "is_active": True, "email_opt_out": False,
         "password_hash": password_hash, "security_stamp": uuid.uuid4().hex[:22],
         "created_at": now}
        for i, email in enumerate(emails)
    ])  # fmt: skip
    author_ids = conn.scalars(sa.select(User.id).where(User.email.in_(emails))).all()
    body = "A customer called in a panic and a colleague stayed on the line until it was fixed."
    story_ids = []
    for n in range(60):
        story_ids.append(conn.execute(sa.insert(Story).values(
            title=f"Published bench story {n}", body_md=body, body_html=f"<p>{body}</p>",
            author_id=author_ids[n % len(author_ids)], team_id=team_id, status="published",
            version=1, customer_consent=False, created_at=now, updated_at=now,
            submitted_at=now, decided_at=now, approved_at=now, published_at=now,
        ).returning(Story.id)).scalar_one())  # fmt: skip
    number = (conn.scalar(sa.select(sa.func.max(Edition.number))) or 0) + 1
    edition_id = conn.execute(sa.insert(Edition).values(
        number=number, iso_week=f"{now:%G-W%V}", subject="Bench edition", intro_md="",
        intro_html="", status="sent", version=1, sent_at=now, sending_started_at=now,
        content_html="<p>frozen</p>", content_text="frozen", web_html="<p>frozen</p>",
        recipients_count=len(emails), sent_count=len(emails), failed_count=0, web_views=0,
        created_at=now, updated_at=now,
    ).returning(Edition.id)).scalar_one()  # fmt: skip
    conn.execute(sa.insert(EditionItem), [
        {"edition_id": edition_id, "story_id": sid, "quote_id": None, "position": position,
         "pinned": False, "added_at": now}
        for position, sid in enumerate(story_ids[:5])
    ])  # fmt: skip
    return Seeded(emails[:writers], emails[writers:], story_ids, number)


@contextmanager
def database(url: str | None, workdir: Path) -> Iterator[str]:
    """A migrated throwaway database: a SQLite file, or a new database on the PG server."""
    from pages import database as throwaway

    with throwaway(url, workdir) as db_url:
        from flask_migrate import upgrade

        from app import create_app
        from app.extensions import db

        app = create_app("testing", SQLALCHEMY_DATABASE_URI=db_url)
        with app.app_context():
            upgrade()
            db.engine.dispose()
        yield db_url


# --------------------------------------------------------------------------- server


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(
    url: str, workdir: Path, *, workers: int = 2, threads: int = 4, deferred: bool = False
) -> Iterator[int]:
    """gunicorn (gthread) serving the production app on a free port, stopped afterwards."""
    port = _free_port()
    env = {
        **os.environ,
        "FLASK_CONFIG": "production",
        "DATABASE_URL": url,
        "SECRET_KEY": uuid.uuid4().hex,
        "BASE_URL": f"http://127.0.0.1:{port}",
        "SESSION_COOKIE_SECURE": "false",
        "LOGIN_RATE_LIMIT": "100000 per minute",
        "INSTANCE_PATH": str(workdir / "instance"),
        "UPLOAD_DIR": str(workdir / "uploads"),
        "MAIL_BACKEND": "memory",
        "LOG_LEVEL": "ERROR",  # the refusals are counted, not logged one by one
        "BENCH_SQLITE_DEFERRED": "1" if deferred else "",
    }
    cmd = [
        sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads),
        "--worker-class", "gthread", "--bind", f"127.0.0.1:{port}", "--timeout", "60",
        "--pythonpath", f"{ROOT},{ROOT / 'bench'}", "--log-level", "warning",
        "concurrency_wsgi:app",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            finally:
                conn.close()
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- clients

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_STORY_URL = re.compile(r"/my/stories/(\d+)$")


class Client:
    """One person's browser: a keep-alive connection and the session cookie."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> tuple[int, dict[str, str], str]:
        headers = {"Cookie": self.cookie, "Accept": "text/html"}
        if content_type:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                text = resp.read().decode("utf-8", "replace")
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2 or method != "GET":
                    raise
                continue
            found = {k.lower(): v for k, v in resp.getheaders() if k.lower() != "set-cookie"}
            for key, value in resp.getheaders():
                if key.lower() == "set-cookie" and value.startswith("session="):
                    self.cookie = value.split(";", 1)[0]
            return resp.status, found, text
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def sign_in(self, email: str) -> None:
        status, _, page = self.request("GET", "/login")
        token = _CSRF.search(page).group(1)
        body = urlencode({"csrf_token": token, "email": email, "password": PASSWORD}).encode()
        status, headers, _ = self.request(
            "POST", "/login", body, "application/x-www-form-urlencoded"
        )
        if status != 302 or "/login" in headers.get("location", ""):
            raise RuntimeError(f"sign-in failed for {email}: {status}")


def _multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    """The story form as a browser sends it: multipart, with an empty file input."""
    boundary = f"----fgf{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="cover_image"; filename=""\r\n'
        "Content-Type: application/octet-stream\r\n\r\n\r\n"
    )
    parts.append(f"--{boundary}--\r\n")
    return "".join(parts).encode(), f"multipart/form-data; boundary={boundary}"


@dataclass
class Tally:
    """What the clients saw; lists are appended to by many threads (atomic in CPython)."""

    acknowledged: list[int] = field(default_factory=list)  # story ids the server redirected to
    submit_ms: list[float] = field(default_factory=list)
    read_ms: list[float] = field(default_factory=list)
    statuses: dict[str, list[int]] = field(default_factory=lambda: {"submit": [], "read": []})
    failures: list[str] = field(default_factory=list)  # connection errors, unexpected pages
    edition_views: list[int] = field(default_factory=list)  # edition pages served (counted)

    def count(self, kind: str, predicate) -> int:
        return sum(1 for s in self.statuses[kind] if predicate(s))

    @property
    def refused(self) -> int:
        return sum(self.count(k, lambda s: s == 409) for k in self.statuses)

    @property
    def server_errors(self) -> int:
        return sum(self.count(k, lambda s: s >= 500) for k in self.statuses)


def _writer(client: Client, n: int, colleague: str, end: float, limit: int, tally: Tally) -> None:
    seq = 0
    while time.perf_counter() < end and seq < limit:
        seq += 1
        try:
            status, _, page = client.request("GET", "/stories/new")
            token = _CSRF.search(page)
            if status != 200 or token is None:
                tally.failures.append(f"story form: {status}")
                tally.statuses["read"].append(status)
                continue
            body, content_type = _multipart({
                "csrf_token": token.group(1), "version": "", "cover_token": "",
                "title": f"{TITLE_PREFIX} {n}-{seq}",
                "body": f"Writer {n}, story {seq}: a customer left **delighted** after a "
                        "colleague went the extra mile.",
                "colleagues": colleague, "colleague_names": "A partner from the branch",
                "team": "", "touchpoint": "", "tags": f"concurrency, bench-{seq % 5}",
                "customer_name": "", "customer_organization": "", "customer_segment": "retail",
                "cover_image_alt": "", "action": "submit",
            })  # fmt: skip
            t0 = time.perf_counter()
            status, headers, _ = client.request("POST", "/stories/new", body, content_type)
            tally.submit_ms.append((time.perf_counter() - t0) * 1000)
        except (http.client.HTTPException, OSError) as error:
            tally.failures.append(f"submit: {error!r}")
            continue
        tally.statuses["submit"].append(status)
        found = _STORY_URL.search(headers.get("location", "")) if status == 302 else None
        if found:
            tally.acknowledged.append(int(found.group(1)))
        elif status not in (409,) and status < 500:
            tally.failures.append(f"submit answered {status}")


def _reader(client: Client, paths: list[str], offset: int, end: float, tally: Tally) -> None:
    i = offset
    while time.perf_counter() < end:
        path = paths[i % len(paths)]
        i += 1
        t0 = time.perf_counter()
        try:
            status, _, _ = client.request("GET", path)
        except (http.client.HTTPException, OSError) as error:
            tally.failures.append(f"{path}: {error!r}")
            continue
        tally.read_ms.append((time.perf_counter() - t0) * 1000)
        tally.statuses["read"].append(status)
        if status == 200 and path.startswith("/editions/"):
            tally.edition_views.append(1)
        if status != 200 and status != 409 and status < 500:
            tally.failures.append(f"{path} answered {status}")


def drive(port: int, seeded: Seeded, seconds: float, *, per_writer: int = 10**9) -> Tally:
    """Sign everyone in, then run the writers and readers together for `seconds` (or until
    each writer has sent `per_writer` stories)."""
    writers = [Client(port) for _ in seeded.writers]
    readers = [Client(port) for _ in seeded.readers]
    for client, email in zip(writers + readers, seeded.writers + seeded.readers, strict=True):
        client.sign_in(email)
    paths = ["/", f"/editions/{seeded.edition_number}"]
    paths += [f"/stories/{sid}" for sid in seeded.story_ids[:20]]
    tally = Tally()
    end = time.perf_counter() + seconds
    threads = [
        threading.Thread(target=_writer, args=(
            c, n, seeded.writers[(n + 1) % len(seeded.writers)], end, per_writer, tally))
        for n, c in enumerate(writers)
    ] + [
        threading.Thread(target=_reader, args=(c, paths, n * 5, end, tally))
        for n, c in enumerate(readers)
    ]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for client in writers + readers:
        client.close()
    return tally


@dataclass
class Check:
    stored: int  # stories with the bench title in the database
    lost: list[int]  # acknowledged but not in the database
    web_views: int  # the edition's view counter


def check(conn: sa.Connection, tally: Tally, seeded: Seeded) -> Check:
    from app.models import Edition
    from app.models import Story

    stored = set(conn.scalars(sa.select(Story.id).where(Story.title.like(f"{TITLE_PREFIX} %"))))
    views = conn.scalar(
        sa.select(Edition.web_views).where(Edition.number == seeded.edition_number)
    )
    return Check(len(stored), sorted(set(tally.acknowledged) - stored), views)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL server URL (default: SQLite temp file)")
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--deferred", action="store_true",
                        help="SQLite: plain BEGIN for every transaction (the behaviour before)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="fgf-bench-concurrency-"))
    try:
        with database(args.database_url, workdir) as url:
            engine = sa.create_engine(sa.make_url(url).set(
                drivername="postgresql+psycopg" if url.startswith("postgresql") else "sqlite"))
            with engine.begin() as conn:
                seeded = seed(conn)
            with serve(url, workdir, workers=args.workers, threads=args.threads,
                       deferred=args.deferred) as port:
                load = os.getloadavg()
                tally = drive(port, seeded, args.seconds)
                load = max(load[0], os.getloadavg()[0])
            with engine.connect() as conn:
                result = check(conn, tally, seeded)
            engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    engine_name = "PostgreSQL" if args.database_url else "SQLite"
    mode = " (deferred BEGIN: before)" if args.deferred else ""
    submits = tally.statuses["submit"]
    print(f"\n{engine_name}{mode}: {WRITERS} writers + {READERS} readers, {args.seconds:g} s, "
          f"gunicorn {args.workers} workers x {args.threads} threads, {os.cpu_count()} CPUs, "
          f"load average up to {load:.1f}")
    print(f"submissions  {len(submits):>6} sent, {len(tally.acknowledged):>6} acknowledged, "
          f"{len(tally.acknowledged) / args.seconds:7.1f}/s, "
          f"p50 {statistics.median(tally.submit_ms or [float('nan')]):6.0f} ms, "
          f"p99 {percentile(tally.submit_ms, 0.99):6.0f} ms")
    reads_ok = tally.count("read", lambda s: s == 200)
    print(f"reads        {len(tally.statuses['read']):>6} sent, {reads_ok:>6} ok,"
          f"           {reads_ok / args.seconds:7.1f}/s, "
          f"p50 {statistics.median(tally.read_ms or [float('nan')]):6.0f} ms, "
          f"p99 {percentile(tally.read_ms, 0.99):6.0f} ms")
    refused_submits = tally.count("submit", lambda s: s == 409)
    print(f"409 refused  {tally.refused} ({refused_submits} submissions, "
          f"{tally.refused - refused_submits} reads); 5xx {tally.server_errors}; "
          f"lost {len(result.lost)}; stored {result.stored} "
          f"(acknowledged {len(tally.acknowledged)}); edition views counted {result.web_views} "
          f"of {len(tally.edition_views)}; other failures {len(tally.failures)}")
    for failure in sorted(set(tally.failures))[:5]:
        print(f"  {failure}")
    bad = tally.refused or tally.server_errors or result.lost
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
