"""Scale-out rehearsal: two web instances, two schedulers, one PostgreSQL, a send under load.

    .venv/bin/python bench/scaleout.py                            # 20,000 recipients
    .venv/bin/python bench/scaleout.py --recipients 2000          # a quick look
    .venv/bin/python bench/scaleout.py --server-url postgresql://postgres@127.0.0.1:5432/postgres

Creates a fresh PostgreSQL database on the server (dropped afterwards), migrates it and seeds N
recipients and two editions with bulk inserts (bench/send.py's seeding). Then, in the same run:

1. the single sender: bench/send.py's measured platform process sends edition 1 to everyone
   (claim, rows, `send_pending`, finish; no web load), into bench/smtp_sink.py. Its send rate is
   the baseline; a raw smtplib loop over the same message gives the machine's ceiling.
2. the scale-out: a counting SMTP sink of this file's own (messages per recipient), two gunicorn
   instances (gunicorn.conf.py, production configuration, 2 workers each) on two ports sharing
   rate limits through Redis when one answers (RATELIMIT_STORAGE_URI, a key prefix of this run),
   and two `flask scheduler run` processes. Edition 2 is handed to the schedulers with the
   editors' "send now" (`sending.request_send_now`); one claims it, the other joins at its next
   deliver tick (SCHEDULER_DELIVER_SECONDS, 15 s by default) and the two share the rows
   (`FOR UPDATE SKIP LOCKED`). From "send now" until the edition is sent, a mixed load runs
   against both ports: signed-in readers (home, archive, an edition, stories, search),
   anonymous visitors (the sign-in page), API readers with a bearer token (/api/v1/stories,
   /api/v1/editions) and writers posting the story form (CSRF token, multipart).

Prints requests served per instance (and 5xx: goal 0), acknowledged stories lost (goal 0),
recipients who got 0 newsletter messages and 2+ (goals 0 and 0), the send's duration and rate
(first to last message, and "send now" to edition sent), the ratio of that rate to the single
sender's, and how many SMTP sessions sent at once. Exits non-zero when a goal is missed.
The machine is shared by everything here (two web instances, two schedulers, PostgreSQL, the
sink and the load clients): on 2 CPUs the ratio says what one box costs, not what two hosts give.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import send as single  # noqa: E402 - bench/send.py: seeding, the single sender, the sinks
import sqlalchemy as sa  # noqa: E402
from concurrency import PASSWORD  # noqa: E402
from concurrency import Client  # noqa: E402
from concurrency import _multipart  # noqa: E402
from concurrency import percentile  # noqa: E402

START_TIMEOUT = 90.0
API_PAUSE_MS = 110.0  # one token may make 600 requests a minute (API_RATE_LIMIT): stay under
SENDER = single.SENDER
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_STORY_URL = re.compile(r"/my/stories/(\d+)$")


# -- orchestration ------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL server (a fresh database is created and dropped)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0",
                        help="shared rate limits; memory:// per instance when it does not answer")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument("--readers", type=int, default=4, help="signed-in page readers")
    parser.add_argument("--api-readers", type=int, default=2)
    parser.add_argument("--writers", type=int, default=2, help="story form writers")
    parser.add_argument("--anonymous", type=int, default=1)
    parser.add_argument("--think-ms", type=float, default=100.0,
                        help="pause between one client's requests")
    parser.add_argument("--min-load-seconds", type=float, default=10.0,
                        help="keep the load on at least this long after 'send now'")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="give up when the edition is not sent after this many seconds")
    parser.add_argument("--deliver-seconds", type=int, default=15,
                        help="the schedulers' SCHEDULER_DELIVER_SECONDS")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--child", choices=["sink"], help=argparse.SUPPRESS)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "sink":
        return _sink_child(json.loads(args.job))

    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="fgf-bench-scaleout-"))
    with single._database(args.server_url) as url:
        print(f"seeding {args.recipients:,} recipients in {single._redact(url)} ...", flush=True)
        job = {"url": url, "batch_size": args.batch_size, "recipients": args.recipients,
               "rounds": 2}
        first, second = single._run_child("seed", job)["edition_ids"]
        people = prepare(url, args)

        print("single sender (bench/send.py's platform process) ...", flush=True)
        baseline = single_sender(job, first)
        print(f"  {baseline['platform_rate']:.0f} msg/s (raw smtplib "
              f"{baseline['raw_rate']:.0f} msg/s)", flush=True)

        print("scale-out: 2 web instances, 2 schedulers ...", flush=True)
        run = scale_out(url, args, second, people, workdir)
        check = verify(url, second, run)
    load_after = os.getloadavg()[0]
    status = report(args, baseline, run, check, (load_before, load_after))
    if status == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"the processes' logs are in {workdir}")
    return status


@dataclass
class People:
    readers: list[str]
    writers: list[str]
    api_tokens: list[str]
    story_ids: list[int]


def prepare(url: str, args: argparse.Namespace) -> People:
    """Passwords for the load's people (the first seeded recipients) and API tokens for the API
    readers, through the token service."""
    from werkzeug.security import generate_password_hash

    from app import create_app
    from app.extensions import db
    from app.models import User
    from app.tokens.services import create_personal_token

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, LOG_LEVEL="WARNING")
    wanted = args.readers + args.writers + args.api_readers
    with app.app_context():
        users = db.session.scalars(sa.select(User).order_by(User.id).limit(wanted)).all()
        password_hash = generate_password_hash(PASSWORD, method="scrypt")
        for user in users:
            user.password_hash = password_hash
        tokens = [
            create_personal_token(user, name="scale-out bench", scopes=["read"],
                                  expires_at=None)[1]
            for user in users[args.readers + args.writers:]
        ]
        db.session.commit()
        emails = [u.email for u in users]
        db.engine.dispose()
    return People(emails[:args.readers], emails[args.readers:args.readers + args.writers],
                  tokens, [])


def single_sender(job: dict, edition_id: int) -> dict:
    """bench/send.py's measured sender for edition 1, between two raw smtplib runs."""
    sink, port = single._start_sink()
    job = {**job, "port": port, "edition_id": edition_id}
    try:
        job["message_file"] = single._run_child("seed", {**job, "message_only": True})[
            "message_file"]
        raws = [single._run_child("baseline", job)]
        platform = single._run_child("platform", job)
        raws.append(single._run_child("baseline", job))
    finally:
        sink.terminate()
        sink.communicate(timeout=30)
        if "message_file" in job:
            Path(job["message_file"]).unlink(missing_ok=True)
    raw_rate = statistics.mean(r["sent"] / r["send_s"] for r in raws)
    total_s = platform["prepare_s"] + platform["send_s"] + platform["finish_s"]
    return {"platform_rate": platform["sent"] / platform["send_s"],
            "platform_end_to_end_rate": platform["sent"] / total_s, "raw_rate": raw_rate,
            "sent": platform["sent"], "send_s": platform["send_s"], "total_s": total_s}


# -- processes ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def control_socket(path: Path) -> list[str]:
    """gunicorn 25.1+ opens a control socket in ~/.gunicorn by default: one per instance."""
    import gunicorn

    return ["--control-socket", str(path)] if gunicorn.version_info >= (25, 1) else []


def _redis_answers(url: str) -> bool:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure means: no shared storage for this run
        return False


def _drop_redis_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"*/{prefix}/*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _environment(url: str, workdir: Path, smtp_port: int, extra: dict[str, str]) -> dict:
    env = {
        **os.environ,
        "FLASK_APP": "wsgi",
        "FLASK_CONFIG": "production",
        "DATABASE_URL": url,
        "SECRET_KEY": "scale-out-bench-secret-shared-by-every-process",
        "BASE_URL": "http://127.0.0.1",
        "SESSION_COOKIE_SECURE": "false",
        "INSTANCE_PATH": str(workdir / "instance"),
        "UPLOAD_DIR": str(workdir / "uploads"),
        "MAIL_BACKEND": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "MAIL_DEFAULT_SENDER": f"Feel Good Fridays <{SENDER}>",
        "LOGIN_RATE_LIMIT": "100000 per minute",  # every bench client signs in from 127.0.0.1
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    env.pop("TEST_DATABASE_URL", None)
    return env


@contextmanager
def _process(cmd: list[str], env: dict, log: Path):
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out,  # noqa: S603
                                   stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def _wait(predicate, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not predicate():
        if process.poll() is not None:
            sys.exit(f"{what} exited ({process.returncode}):\n{_tail(log)}")
        if time.monotonic() > deadline:
            sys.exit(f"{what} did not start in time:\n{_tail(log)}")
        time.sleep(0.1)


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _start_counting_sink(result_file: Path) -> tuple[subprocess.Popen, int]:
    sink = subprocess.Popen(  # noqa: S603
        [sys.executable, __file__, "--child", "sink", "--job",
         json.dumps({"result_file": str(result_file)})],
        stdout=subprocess.PIPE, text=True,
    )
    line = sink.stdout.readline().split()
    if line[:1] != ["READY"]:
        sys.exit("the counting SMTP sink did not start")
    return sink, int(line[1])


# -- the scale-out run --------------------------------------------------------------------------


@dataclass
class Run:
    send_now_at: float = 0.0  # wall clock (time.time())
    sent_at: float | None = None  # when the bench saw the edition sent
    load_seconds: float = 0.0
    tallies: dict[int, Tally] = field(default_factory=dict)  # per port
    sink: dict = field(default_factory=dict)
    ports: list[int] = field(default_factory=list)
    shared_limits: bool = False
    pids: dict[str, list[int]] = field(default_factory=lambda: {"web": [], "scheduler": []})
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the load


@dataclass
class Tally:
    """What the clients of one instance saw (lists: appended by many threads)."""

    statuses: list[int] = field(default_factory=list)
    read_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    acknowledged: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def scale_out(url: str, args: argparse.Namespace, edition_id: int, people: People,
              workdir: Path) -> Run:
    run = Run()
    prefix = f"fgf-bench-{uuid.uuid4().hex[:8]}"
    run.shared_limits = _redis_answers(args.redis_url)
    limits = ({"RATELIMIT_STORAGE_URI": args.redis_url, "RATELIMIT_KEY_PREFIX": prefix}
              if run.shared_limits else {"RATELIMIT_STORAGE_URI": "memory://"})
    result_file = workdir / "sink.json"
    sink, smtp_port = _start_counting_sink(result_file)
    try:
        with ExitStack() as stack:
            for n in range(2):
                port = _free_port()
                log = workdir / f"web-{n}.log"
                env = _environment(url, workdir, smtp_port, {
                    **limits, "GUNICORN_BIND": f"127.0.0.1:{port}",
                    "GUNICORN_WORKERS": str(args.workers),
                })
                process = stack.enter_context(_process(
                    [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                     *control_socket(workdir / f"web-{n}.ctl"), "wsgi:app"], env, log))
                _wait(lambda port=port: _healthy(port), f"web instance {n + 1}", process, log)
                run.ports.append(port)
                run.pids["web"].append(process.pid)
            for n in range(2):
                log = workdir / f"scheduler-{n}.log"
                env = _environment(url, workdir, smtp_port, {
                    **limits, "LOG_LEVEL": "INFO",
                    "SCHEDULER_DELIVER_SECONDS": str(args.deliver_seconds),
                    "NEWSLETTER_BATCH_SIZE": str(args.batch_size),
                })
                process = stack.enter_context(_process(
                    [sys.executable, "-m", "flask", "scheduler", "run"], env, log))
                _wait(lambda log=log: "scheduler started" in log.read_text(errors="replace"),
                      f"scheduler {n + 1}", process, log)
                run.pids["scheduler"].append(process.pid)
            people.story_ids = _published_story_ids(url)
            run.tallies = {port: Tally() for port in run.ports}
            cpu_before = {kind: _cpu_seconds(pids) for kind, pids in run.pids.items()}
            stop = threading.Event()
            threads = _start_load(args, run, people, stop)
            _send_now(url, edition_id)
            run.send_now_at = time.time()
            deadline = time.monotonic() + args.timeout
            started = time.monotonic()
            while True:
                if run.sent_at is None and _edition_sent(url, edition_id):
                    run.sent_at = time.time()
                    print(f"  edition sent after {run.sent_at - run.send_now_at:.1f} s",
                          flush=True)
                if run.sent_at is not None and time.monotonic() - started >= args.min_load_seconds:
                    break
                if time.monotonic() > deadline:
                    print("  the edition was not sent in time", flush=True)
                    break
                time.sleep(0.5)
            stop.set()
            for thread in threads:
                thread.join()
            run.load_seconds = time.monotonic() - started
            run.cpu = {kind: _cpu_seconds(pids) - cpu_before[kind]
                       for kind, pids in run.pids.items()}
            # The schedulers finish their current batch on SIGTERM (ExitStack, newest first).
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.communicate(timeout=60)
        if run.shared_limits:
            _drop_redis_keys(args.redis_url, prefix)
    run.sink = json.loads(result_file.read_text()) if result_file.exists() else {}
    return run


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes and their children (gunicorn's workers), from
    /proc; 0 where unreadable (not Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    seen: set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"))


def _published_story_ids(url: str) -> list[int]:
    from app.models import Story

    engine = _engine(url)
    with engine.connect() as conn:
        ids = conn.scalars(sa.select(Story.id).where(Story.status == "published")
                           .order_by(Story.id)).all()
    engine.dispose()
    return list(ids)


def _send_now(url: str, edition_id: int) -> None:
    """The editors' "send now", through the service (actor None: as `flask editions send`)."""
    from app import create_app
    from app.extensions import db
    from app.models import Edition
    from app.newsletter import sending

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, LOG_LEVEL="WARNING")
    with app.app_context():
        sending.request_send_now(db.session.get(Edition, edition_id), None)
        db.session.commit()
        db.engine.dispose()


def _edition_sent(url: str, edition_id: int) -> bool:
    from app.models import Edition

    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.select(Edition.status).where(Edition.id == edition_id)) == "sent"
    finally:
        engine.dispose()


# -- the load -----------------------------------------------------------------------------------


def _start_load(args: argparse.Namespace, run: Run, people: People,
                stop: threading.Event) -> list[threading.Thread]:
    ports = run.ports
    threads = []
    stories = people.story_ids or [1]
    reads = ["/", "/editions", "/editions/1", "/search?q=customer"]
    reads += [f"/stories/{sid}" for sid in stories[:8]]
    for n, email in enumerate(people.readers):
        port = ports[n % 2]
        threads.append(threading.Thread(target=_reader, args=(
            port, run.tallies[port], email, reads, n, args.think_ms, stop)))
    for n, email in enumerate(people.writers):
        port = ports[n % 2]
        colleague = people.readers[0] if people.readers else email
        threads.append(threading.Thread(target=_writer, args=(
            port, run.tallies[port], email, colleague, n, args.think_ms, stop)))
    for n, token in enumerate(people.api_tokens):
        port = ports[n % 2]
        threads.append(threading.Thread(target=_api_reader, args=(
            port, run.tallies[port], token, n, args.think_ms, stop)))
    for n in range(args.anonymous):
        port = ports[n % 2]
        threads.append(threading.Thread(target=_anonymous, args=(
            port, run.tallies[port], args.think_ms, stop)))
    for thread in threads:
        thread.start()
    return threads


def _pause(think_ms: float) -> None:
    if think_ms > 0:
        time.sleep(think_ms / 1000)


def _reader(port: int, tally: Tally, email: str, paths: list[str], offset: int,
            think_ms: float, stop: threading.Event) -> None:
    client = Client(port)
    try:
        client.sign_in(email)
    except (RuntimeError, OSError, http.client.HTTPException) as error:
        tally.failures.append(f"sign-in: {error!r}")
        return
    i = offset
    while not stop.is_set():
        path = paths[i % len(paths)]
        i += 1
        t0 = time.perf_counter()
        try:
            status, _, _ = client.request("GET", path)
        except (http.client.HTTPException, OSError) as error:
            tally.failures.append(f"{path}: {error!r}")
            continue
        tally.read_ms.append((time.perf_counter() - t0) * 1000)
        tally.statuses.append(status)
        if status != 200 and status < 500:
            tally.failures.append(f"{path} answered {status}")
        _pause(think_ms)
    client.close()


def _anonymous(port: int, tally: Tally, think_ms: float, stop: threading.Event) -> None:
    paths = ["/login", "/healthz", "/", "/developers/api"]
    i = 0
    while not stop.is_set():
        path = paths[i % len(paths)]
        i += 1
        client = Client(port)  # no cookie: a new visitor each time
        t0 = time.perf_counter()
        try:
            status, _, _ = client.request("GET", path)
        except (http.client.HTTPException, OSError) as error:
            tally.failures.append(f"anonymous {path}: {error!r}")
            continue
        finally:
            client.close()
        tally.read_ms.append((time.perf_counter() - t0) * 1000)
        tally.statuses.append(status)
        if status not in (200, 302) and status < 500:
            tally.failures.append(f"anonymous {path} answered {status}")
        _pause(think_ms)


def _api_reader(port: int, tally: Tally, token: str, offset: int, think_ms: float,
                stop: threading.Event) -> None:
    paths = ["/api/v1/stories", "/api/v1/editions", "/api/v1/stories?limit=5"]
    conn: http.client.HTTPConnection | None = None
    i = offset
    while not stop.is_set():
        path = paths[i % len(paths)]
        i += 1
        t0 = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}",
                                               "Accept": "application/json"})
            response = conn.getresponse()
            response.read()
            status = response.status
        except (http.client.HTTPException, OSError) as error:
            if conn is not None:
                conn.close()
            conn = None
            tally.failures.append(f"api {path}: {error!r}")
            continue
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = None
        tally.read_ms.append((time.perf_counter() - t0) * 1000)
        tally.statuses.append(status)
        if status != 200 and status < 500:
            tally.failures.append(f"api {path} answered {status}")
        _pause(max(think_ms, API_PAUSE_MS))
    if conn is not None:
        conn.close()


def _writer(port: int, tally: Tally, email: str, colleague: str, n: int, think_ms: float,
            stop: threading.Event) -> None:
    client = Client(port)
    try:
        client.sign_in(email)
    except (RuntimeError, OSError, http.client.HTTPException) as error:
        tally.failures.append(f"sign-in: {error!r}")
        return
    seq = 0
    while not stop.is_set():
        seq += 1
        try:
            status, _, page = client.request("GET", "/stories/new")
            tally.statuses.append(status)
            token = _CSRF.search(page)
            if status != 200 or token is None:
                tally.failures.append(f"story form answered {status}")
                continue
            body, content_type = _multipart({
                "csrf_token": token.group(1), "version": "", "cover_token": "",
                "title": f"Scale-out story {port}-{n}-{seq}",
                "body": f"Writer {n}, story {seq}: a customer left **delighted** after a "
                        "colleague went the extra mile during the Friday send.",
                "colleagues": colleague, "colleague_names": "", "team": "", "touchpoint": "",
                "tags": "scale-out", "customer_name": "", "customer_organization": "",
                "customer_segment": "retail", "cover_image_alt": "", "action": "submit",
            })  # fmt: skip
            t0 = time.perf_counter()
            status, headers, _ = client.request("POST", "/stories/new", body, content_type)
            tally.submit_ms.append((time.perf_counter() - t0) * 1000)
        except (http.client.HTTPException, OSError) as error:
            tally.failures.append(f"submit: {error!r}")
            continue
        tally.statuses.append(status)
        found = _STORY_URL.search(headers.get("location", "")) if status == 302 else None
        if found:
            tally.acknowledged.append(int(found.group(1)))
        elif status < 500:
            tally.failures.append(f"submit answered {status}")
        _pause(think_ms)
    client.close()


# -- checks and report --------------------------------------------------------------------------


@dataclass
class Check:
    deliveries: int
    by_status: dict[str, int]
    active_people: int
    zero: list[str]  # recipients (delivery rows) who got no newsletter message
    twice: list[str]  # recipients who got 2 or more
    strangers: int  # newsletter messages to an address without a delivery row
    first_sent: float | None
    last_sent: float | None
    lost_stories: list[int]


def verify(url: str, edition_id: int, run: Run) -> Check:
    from app.models import Delivery
    from app.models import Story
    from app.models import User

    engine = _engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Delivery.email, Delivery.status, Delivery.sent_at)
                            .where(Delivery.edition_id == edition_id)).all()
        active = conn.scalar(sa.select(sa.func.count()).select_from(User).where(
            User.is_active_user.is_(True), User.email_opt_out.is_(False)))
        acknowledged = {i for t in run.tallies.values() for i in t.acknowledged}
        stored = set(conn.scalars(sa.select(Story.id).where(Story.id.in_(acknowledged))))
    engine.dispose()
    received = Counter(run.sink.get("newsletter", {}))
    expected = {r.email for r in rows}
    sent_times = [r.sent_at.timestamp() for r in rows if r.sent_at is not None]
    return Check(
        deliveries=len(rows),
        by_status=dict(Counter(str(getattr(r.status, "value", r.status)) for r in rows)),
        active_people=int(active or 0),
        zero=sorted(a for a in expected if received[a] == 0),
        twice=sorted(a for a in expected if received[a] >= 2),
        strangers=sum(n for a, n in received.items() if a not in expected),
        first_sent=min(sent_times, default=None),
        last_sent=max(sent_times, default=None),
        lost_stories=sorted(acknowledged - stored),
    )


def report(args, baseline: dict, run: Run, check: Check, load: tuple[float, float]) -> int:
    print()
    print(f"scale-out rehearsal: {args.recipients:,} recipients, 2 gunicorn instances x "
          f"{args.workers} workers, 2 schedulers, PostgreSQL, {os.cpu_count()} CPUs, load "
          f"average {load[0]:.2f} before / {load[1]:.2f} after")
    print(f"rate limits        {'shared in Redis' if run.shared_limits else 'memory (no Redis)'}")
    print(f"load               {args.readers} readers, {args.writers} writers, "
          f"{args.api_readers} API readers, {args.anonymous} anonymous, think "
          f"{args.think_ms:g} ms, for {run.load_seconds:.1f} s")
    errors = 0
    for n, port in enumerate(run.ports):
        tally = run.tallies[port]
        fives = sum(1 for s in tally.statuses if s >= 500)
        errors += fives
        print(f"instance {n + 1}         {len(tally.statuses):>6} requests served "
              f"({len(tally.statuses) / max(run.load_seconds, 1e-9):.1f}/s), 5xx {fives}, "
              f"reads p50 {statistics.median(tally.read_ms or [float('nan')]):.0f} ms "
              f"p99 {percentile(tally.read_ms, 0.99):.0f} ms, stories acknowledged "
              f"{len(tally.acknowledged)} (post p50 "
              f"{statistics.median(tally.submit_ms or [float('nan')]):.0f} ms)")
    failures = [f for t in run.tallies.values() for f in t.failures]
    print(f"5xx                {errors}   (goal 0); other failures {len(failures)}; "
          f"acknowledged stories lost {len(check.lost_stories)} (goal 0)")
    for failure in sorted(set(failures))[:5]:
        print(f"  {failure}")
    print(f"deliveries         {check.deliveries:,} rows for {check.active_people:,} active "
          f"people; {check.by_status}")
    print(f"recipients         {len(check.zero)} with 0 messages (goal 0), {len(check.twice)} "
          f"with 2+ (goal 0); {check.strangers} messages to unexpected addresses")
    sink = run.sink
    if run.cpu:
        print(f"CPU during the run web instances {run.cpu.get('web', 0):.0f} s, schedulers "
              f"{run.cpu.get('scheduler', 0):.0f} s, over {run.load_seconds:.0f} s on "
              f"{os.cpu_count()} CPUs")
    print(f"SMTP sink          {sink.get('messages', 0):,} messages "
          f"({sink.get('newsletter_messages', 0):,} newsletter), {sink.get('sessions', 0)} "
          f"sessions, at most {sink.get('max_concurrent_sending', 0)} sending the newsletter at "
          f"once; "
          f"newsletter messages per session {sink.get('newsletter_per_session', [])[:6]}")
    ok = not errors and not check.zero and not check.twice and not check.lost_stories
    if check.first_sent is not None and check.last_sent is not None and run.sent_at:
        window = max(check.last_sent - check.first_sent, 1e-9)
        rate = check.deliveries / window
        end_to_end = run.sent_at - run.send_now_at
        print(f"send               first to last message {window:.1f} s: {rate:.0f} msg/s; "
              f"'send now' to edition sent {end_to_end:.1f} s: "
              f"{check.deliveries / end_to_end:.0f} msg/s")
        print(f"single sender      {baseline['platform_rate']:.0f} msg/s sending "
              f"({baseline['send_s']:.1f} s; end to end {baseline['platform_end_to_end_rate']:.0f}"
              f" msg/s), raw smtplib {baseline['raw_rate']:.0f} msg/s, no web load")
        whole = check.deliveries / end_to_end / baseline["platform_end_to_end_rate"]
        print(f"ratio              {rate / baseline['platform_rate']:.2f} of the single sender "
              f"(end to end {whole:.2f})")
    else:
        print("send               not finished")
        ok = False
    print("result             " + ("OK" if ok else "GOAL MISSED"))
    return 0 if ok else 1


# -- the counting SMTP sink (a child process) ---------------------------------------------------


class _CountingHandler:
    """Counts every message per recipient, newsletter messages (List-Id) apart, per session."""

    def __init__(self) -> None:
        self.messages = 0
        self.newsletter: Counter = Counter()
        self.newsletter_messages = 0
        self.sessions = 0
        self.per_session: Counter = Counter()
        self.open_sending: set[int] = set()
        self.max_concurrent = 0
        self.last_seen: dict[int, float] = {}

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        self.messages += 1
        key = getattr(session, "bench_number", None)
        if key is None:  # a session's first message (ids of closed sessions could be reused)
            self.sessions += 1
            key = session.bench_number = self.sessions
        head = (envelope.original_content or b"").split(b"\r\n\r\n", 1)[0]
        if b"\nList-Id:" in head or head.startswith(b"List-Id:"):
            self.newsletter_messages += 1
            self.per_session[key] += 1
            for address in envelope.rcpt_tos:
                self.newsletter[address] += 1
            now = time.monotonic()
            self.last_seen[key] = now
            # Sessions that delivered newsletter messages within the last second: "at once".
            active = sum(1 for t in self.last_seen.values() if now - t < 1.0)
            self.max_concurrent = max(self.max_concurrent, active)
        return "250 OK"


def _sink_child(job: dict) -> int:
    from aiosmtpd.smtp import SMTP

    handler = _CountingHandler()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink.local", data_size_limit=None), "127.0.0.1", 0)
        print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        server.close()

    asyncio.run(serve())
    Path(job["result_file"]).write_text(json.dumps({
        "messages": handler.messages,
        "newsletter_messages": handler.newsletter_messages,
        "newsletter": dict(handler.newsletter),
        "sessions": handler.sessions,
        "newsletter_per_session": sorted(handler.per_session.values(), reverse=True),
        "max_concurrent_sending": handler.max_concurrent,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
