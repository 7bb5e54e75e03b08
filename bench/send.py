"""Benchmark newsletter sending against a raw smtplib baseline, in the same run.

    .venv/bin/python bench/send.py                          # 20,000 recipients, temp SQLite DB
    .venv/bin/python bench/send.py --recipients 100000      # the memory target
    .venv/bin/python bench/send.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/send.py --recipients 1000 --rate 50 --senders 2   # paced

Seeds N active recipients and a realistic edition (four stories, two quotes, ~20 KB of HTML) in a
throwaway database (a temp SQLite file, or a fresh database on the given PostgreSQL server,
dropped afterwards). Starts bench/smtp_sink.py, an aiosmtpd server that accepts and counts, in
its own process. Then, each in its own subprocess so their peak RSS is their own:

* platform: the production code path: `claim_edition`, `create_deliveries` (freeze, one row per
  recipient), `send_pending` (batch claims, one reused SMTP connection, a committed row update
  per message), `finish_edition`;
* baseline: a raw smtplib loop sending one pre-built message (the platform's own bytes for the
  first recipient) to N addresses over one connection: no database, no rendering, nothing.

Prints messages per second for both (the platform's send phase, and end to end), the ratio, and
each process's peak RSS (VmHWM from /proc, ru_maxrss as a cross-check). With --rounds R the
platform sends R editions, each between two baseline runs, and the median ratio counts: on a
shared machine the speed drifts between runs. Targets: send-phase ratio >= 0.8; platform peak
RSS < 200 MB at 100,000 recipients.

Paced (--rate R, and/or --cap N with --window-hours H; --senders S): the relay limits are set
as an admin would, S platform processes start on the same edition at the same instant (one
claims it, the others join), and it prints the achieved rate against the setting, the busiest
second at the sink, and the messages each sender sent. No baseline: the point is the limit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC
from datetime import date
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

TARGET_RATIO = 0.8
TARGET_RSS_MB = 200
SEED_CHUNK = 5_000
SENDER = "feelgood@example.com"

STORY = (
    "A customer called at {hour} pm: her card had been blocked at an airport check-in desk, two "
    "children in tow and a flight boarding in forty minutes.\n\n**{name}** stayed on the line, "
    "verified her identity, lifted the block and then called the airline's desk to explain. "
    "She boarded with ten minutes to spare.\n\n> \"I expected a script. I got a person who cared "
    "whether we made it.\"\n\n{name} wrote up the gap in our overnight verification process the "
    "next morning, and Finance changed the rule within a week. A small fix, a big difference: "
    "the next family in the same situation will not even notice there was a problem. "
    "[Read the process note](https://intranet.example.com/process/{hour}).\n\n"
    "- stayed calm\n- owned the problem\n- fixed the cause, not just the case"
)


# -- parent: orchestration ----------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--database-url", help="PostgreSQL server URL (a fresh DB is created)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1,
                        help="platform runs, each between two baseline runs (median ratio)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="paced run: send_rate_per_second (messages per second)")
    parser.add_argument("--cap", type=int, default=0, help="paced run: send_cap_messages")
    parser.add_argument("--window-hours", type=int, default=24, help="paced run: cap window")
    parser.add_argument("--senders", type=int, default=1, help="paced run: sender processes")
    parser.add_argument("--child", choices=["seed", "platform", "baseline", "paced"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.child, json.loads(args.job))
    if args.rate or args.cap:
        return _paced_main(args)

    load = os.getloadavg()[0]
    with _database(args.database_url) as url:
        print(f"seeding {args.recipients:,} recipients in {_redact(url)} ...", flush=True)
        job = {"url": url, "batch_size": args.batch_size, "recipients": args.recipients,
               "rounds": args.rounds}
        edition_ids = _run_child("seed", job)["edition_ids"]
        sink, port = _start_sink()
        job["port"] = port
        platforms, baselines = [], []
        try:
            job["edition_id"] = edition_ids[0]
            job["message_file"] = _run_child("seed", {**job, "message_only": True})["message_file"]
            # Baselines before and after every platform run: the machine's speed drifts
            # (other processes), so each platform run is compared with the runs around it.
            baselines.append(_run_child("baseline", job))
            for edition_id in edition_ids:
                platforms.append(_run_child("platform", {**job, "edition_id": edition_id}))
                baselines.append(_run_child("baseline", job))
        finally:
            sink.terminate()
            count = sink.communicate(timeout=30)[0].strip().splitlines()[-1]
            if "message_file" in job:
                Path(job["message_file"]).unlink(missing_ok=True)
    _report(args, platforms, baselines, count, [load, os.getloadavg()[0]])
    return 0


def _paced_main(args) -> int:
    """S senders at once within the relay limits; the sink's receive times say how fast."""
    with _database(args.database_url) as url:
        print(f"seeding {args.recipients:,} recipients in {_redact(url)} ...", flush=True)
        job = {"url": url, "batch_size": args.batch_size, "recipients": args.recipients,
               "rounds": 1, "limits": {"send_rate_per_second": args.rate,
                                       "send_cap_messages": args.cap,
                                       "send_cap_window_hours": args.window_hours}}
        job["edition_id"] = _run_child("seed", job)["edition_ids"][0]
        sink, port = _start_sink()
        job.update(port=port, start_at=time.time() + 4)
        try:
            children = [
                subprocess.Popen([sys.executable, __file__, "--child", "paced", "--job",
                                  json.dumps({**job, "worker": f"w{i}"})],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for i in range(args.senders)
            ]
            results = []
            for child in children:
                out, err = child.communicate()
                if child.returncode != 0:
                    sys.exit(f"paced sender failed:\n{err[-4000:]}")
                results.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            sink.terminate()
            count = sink.communicate(timeout=30)[0].strip().splitlines()[-1]
    sent = sum(r["sent"] for r in results)
    times = sorted(t for r in results for t in r["times"])
    span = times[-1] - times[0]
    busiest, first = 0, 0
    for last, at in enumerate(times):  # the most answers within any one second
        while at - times[first] >= 1.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    print()
    print(f"recipients {args.recipients:,}, {args.senders} sender(s), batch size "
          f"{args.batch_size}, rate {args.rate:g}/s, cap {args.cap or 'none'}"
          f"{f' per {args.window_hours} h' if args.cap else ''}, {os.cpu_count()} CPUs")
    print(f"sent                    {sent:,} ({', '.join(str(r['sent']) for r in results)} "
          f"per sender)")
    print(f"first to last message   {span:.2f} s")
    if args.rate and span > 0:
        achieved = sent / span
        print(f"achieved rate           {achieved:.2f} msg/s = {achieved / args.rate:.3f} of the "
              f"setting ({args.rate:g}/s; messages / first-to-last)")
    print(f"busiest second          {busiest} messages (any one-second window, all senders)")
    print(f"sink                    {count} (messages, recipients, bytes)")
    return 0


def _run_child(kind: str, job: dict) -> dict:
    process = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--job", json.dumps(job)],
        capture_output=True, text=True, check=False,
    )
    if process.returncode != 0:
        sys.exit(f"{kind} failed:\n{process.stderr[-4000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def _report(args, platforms: list[dict], baselines: list[dict], sink: str,
            load: list[float]) -> None:
    n = args.recipients
    rate = [b["sent"] / b["send_s"] for b in baselines]
    print()
    print(f"recipients {n:,}, batch size {args.batch_size}, "
          f"message {platforms[0]['message_bytes']:,} bytes, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.2f} before / {load[1]:.2f} after")
    print(f"baseline (raw smtplib)  {rate[0]:>6.0f} msg/s")
    ratios, totals = [], []
    for i, p in enumerate(platforms):
        send_rate = p["sent"] / p["send_s"]
        total_s = p["prepare_s"] + p["send_s"] + p["finish_s"]
        base = (rate[i] + rate[i + 1]) / 2
        ratios.append(send_rate / base)
        totals.append((n / total_s) / base)
        print(f"platform run {i + 1}          {send_rate:>6.0f} msg/s sending "
              f"({p['send_s']:.1f} s; prepare {p['prepare_s']:.1f} s, finish "
              f"{p['finish_s']:.1f} s: {n / total_s:.0f} msg/s end to end)")
        print(f"baseline (raw smtplib)  {rate[i + 1]:>6.0f} msg/s    "
              f"ratio {ratios[-1]:.2f} (end to end {totals[-1]:.2f})")
    ratio = statistics.median(ratios)
    cpu = sum(p["send_cpu_s"] for p in platforms) / sum(p["sent"] for p in platforms)
    base_cpu = sum(b["send_cpu_s"] for b in baselines) / sum(b["sent"] for b in baselines)
    rss_mb = max(p["hwm_kb"] for p in platforms) / 1024
    print(f"ratio (median)          {ratio:>6.2f}    target >= {TARGET_RATIO}"
          f"   (end to end {statistics.median(totals):.2f})")
    print(f"sender CPU per message  {1e3 * cpu:>6.3f} ms (baseline {1e3 * base_cpu:.3f} ms)")
    print(f"platform peak RSS       {rss_mb:>6.1f} MB (VmHWM; ru_maxrss "
          f"{max(p['maxrss_kb'] for p in platforms) / 1024:.1f} MB)  target < {TARGET_RSS_MB} MB"
          f" at 100,000")
    print(f"baseline peak RSS       {max(b['hwm_kb'] for b in baselines) / 1024:>6.1f} MB")
    print(f"sink                    {sink} (messages, recipients, bytes)")
    ok = ratio >= TARGET_RATIO and (n < 100_000 or rss_mb < TARGET_RSS_MB)
    print("result                  " + ("OK" if ok else "BELOW TARGET"))


def _start_sink() -> tuple[subprocess.Popen, int]:
    sink = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "smtp_sink.py")], stdout=subprocess.PIPE, text=True
    )
    line = sink.stdout.readline().split()
    if line[:1] != ["READY"]:
        sys.exit("the SMTP sink did not start")
    return sink, int(line[1])


class _database:
    """A throwaway database: temp SQLite file, or a fresh PostgreSQL database (dropped after)."""

    def __init__(self, server_url: str | None) -> None:
        self.server_url = server_url
        self.tmp: tempfile.TemporaryDirectory | None = None
        self.name: str | None = None

    def __enter__(self) -> str:
        if not self.server_url:
            self.tmp = tempfile.TemporaryDirectory(prefix="fgf-bench-send-")
            return f"sqlite:///{self.tmp.name}/bench.db"
        base = sa.make_url(self.server_url).set(drivername="postgresql+psycopg")
        self.name = f"fgf_bench_send_{uuid.uuid4().hex[:8]}"
        self.admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        return base.set(database=self.name).render_as_string(hide_password=False)

    def __exit__(self, *exc: object) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()
        if self.name is not None:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.admin.dispose()


def _redact(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def _seed(url: str, recipients: int, rounds: int, job_limits: dict | None = None) -> dict:
    """Schema by the migrations, then bulk Core inserts; `rounds` scheduled editions."""
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.models import Edition
    from app.models import EditionItem
    from app.models import EditionStatus
    from app.models import Quote
    from app.models import QuoteSource
    from app.models import Recognition
    from app.models import Role
    from app.models import Story
    from app.models import SubmissionStatus
    from app.models import User
    from app.models import utcnow
    from app.richtext import render_markdown

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, LOG_LEVEL="WARNING")
    with app.app_context():
        upgrade()
        now = utcnow()
        users = User.__table__
        for start in range(0, recipients, SEED_CHUNK):
            db.session.execute(users.insert(), [
                {"email": f"person{i}@staff.example.com", "display_name": f"Person{i} Example",
                 "role": Role.EMPLOYEE, "is_active": True, "email_opt_out": False,
                 "security_stamp": f"s{i}", "created_at": now}
                for i in range(start, min(start + SEED_CHUNK, recipients))
            ])
        db.session.commit()
        author, hero, other = db.session.scalars(sa.select(User).order_by(User.id).limit(3)).all()
        edition_ids = []
        for number in range(1, rounds + 1):
            edition = Edition(number=number, status=EditionStatus.SCHEDULED,
                              subject="Four teams, one week",
                              intro_md="Welcome to **this week's** edition: four stories and two "
                                       "customers who took the time to say thank you.")
            edition.intro_html = str(render_markdown(edition.intro_md))
            for i, name in enumerate(["Noah", "Amina", "Lucas", "Mei"]):
                body = STORY.format(hour=i + 7, name=name)
                story = Story(title=f"Story {i + 1}: {name} saved the day", body_md=body,
                              body_html=str(render_markdown(body)), author=author,
                              status=SubmissionStatus.APPROVED, customer_segment="retail banking")
                story.recognitions = [Recognition(user=hero, position=0),
                                      Recognition(user=other, position=1)]
                edition.items.append(EditionItem(story=story, position=2 * i))
            for i in range(2):
                text = "You made my week. Thank you for listening, and for fixing it for good."
                quote = Quote(text=text, text_html=str(render_markdown(text)), author=author,
                              status=SubmissionStatus.APPROVED, source=QuoteSource.SURVEY,
                              nps_score=10, received_on=date.today())
                edition.items.append(EditionItem(quote=quote, position=2 * i + 1))
            db.session.add(edition)
            db.session.commit()
            edition_ids.append(edition.id)
        if job_limits:
            from app.settings import set_settings

            set_settings(job_limits, actor=None)
            db.session.commit()
        db.engine.dispose()
    return {"edition_ids": edition_ids}


# -- children: the measured processes -----------------------------------------------------------


def _child(kind: str, job: dict) -> int:
    if kind == "paced":
        print(json.dumps(_paced(job)), flush=True)
        return 0
    if kind == "seed":
        result = (_message(job) if job.get("message_only")
                  else _seed(job["url"], job["recipients"], job["rounds"], job.get("limits")))
    else:
        result = _platform(job) if kind == "platform" else _baseline(job)
    result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["hwm_kb"] = _peak_rss_kb()
    print(json.dumps(result), flush=True)
    return 0


def _peak_rss_kb() -> int:
    """This process's own peak RSS (VmHWM). ru_maxrss would also count the parent's RSS at
    fork time, which Linux carries over exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _platform(job: dict) -> dict:
    from app import create_app
    from app.extensions import db
    from app.models import Edition
    from app.newsletter import sending

    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=job["url"],
        MAIL_BACKEND="smtp",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=job["port"],
        MAIL_DEFAULT_SENDER=f"Feel Good Fridays <{SENDER}>",
        NEWSLETTER_BATCH_SIZE=job["batch_size"],
        LOG_LEVEL="WARNING",
    )
    with app.app_context():
        edition_id = job["edition_id"]
        t0 = time.perf_counter()
        assert sending.claim_edition(edition_id)
        edition = db.session.get(Edition, edition_id)
        report = sending.create_deliveries(edition)
        t1, c1 = time.perf_counter(), time.process_time()
        stats = sending.send_pending(edition_id)
        t2, c2 = time.perf_counter(), time.process_time()
        edition = db.session.get(Edition, edition_id)
        sending.finish_edition(edition, now=datetime.now(UTC))
        t3 = time.perf_counter()
        db.engine.dispose()
    assert report is not None and stats.sent == report.count == job["recipients"], stats
    return {"prepare_s": t1 - t0, "send_s": t2 - t1, "finish_s": t3 - t2, "sent": stats.sent,
            "send_cpu_s": c2 - c1, "message_bytes": Path(job["message_file"]).stat().st_size}


def _paced(job: dict) -> dict:
    """One paced sender: joins the edition at `start_at`; when each message was answered."""
    from app import create_app
    from app.extensions import db
    from app.models import Edition
    from app.newsletter import sending

    app = create_app(
        "testing", SQLALCHEMY_DATABASE_URI=job["url"], MAIL_BACKEND="smtp",
        MAIL_SERVER="127.0.0.1", MAIL_PORT=job["port"],
        MAIL_DEFAULT_SENDER=f"Feel Good Fridays <{SENDER}>",
        NEWSLETTER_BATCH_SIZE=job["batch_size"], LOG_LEVEL="WARNING",
    )
    times: list[float] = []
    with app.app_context():
        time.sleep(max(0.0, job["start_at"] - time.time()))
        edition_id = job["edition_id"]
        sending.claim_edition(edition_id, worker_id=job["worker"])
        sending.create_deliveries(db.session.get(Edition, edition_id))
        stats = sending.send_pending(edition_id, worker_id=job["worker"],
                                     progress=lambda _step: times.append(time.time()))
        db.engine.dispose()
    return {"sent": stats.sent, "times": times}


def _message(job: dict) -> dict:
    """The bytes the baseline replays: this edition's message to its first recipient, built
    by the platform (compiled as at send time) before anything is sent."""
    from app import create_app
    from app.extensions import db
    from app.models import Edition
    from app.newsletter import links
    from app.newsletter import sending
    from app.newsletter import tokens
    from app.newsletter.compose import compile_edition

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=job["url"], LOG_LEVEL="WARNING",
                     MAIL_DEFAULT_SENDER=f"Feel Good Fridays <{SENDER}>")
    with app.app_context():
        edition = db.session.get(Edition, job["edition_id"])
        message = sending.mailer_for(edition, compile_edition(edition)).message(
            email_address="person0@staff.example.com", name="Person0 Example",
            first_name="Person0", message_id="<bench@example.com>",
            unsubscribe_url=links.unsubscribe_url(tokens.make_unsubscribe_token(user_id=1)),
        )
        db.engine.dispose()
    path = Path(tempfile.gettempdir()) / f"fgf-bench-message-{uuid.uuid4().hex}.eml"
    path.write_bytes(message.wire_bytes())
    return {"message_file": str(path)}


def _baseline(job: dict) -> dict:
    data = Path(job["message_file"]).read_bytes()
    n = job["recipients"]
    addresses = [f"person{i}@staff.example.com" for i in range(n)]
    t0, c0 = time.perf_counter(), time.process_time()
    with smtplib.SMTP("127.0.0.1", job["port"], timeout=30) as conn:
        for address in addresses:
            conn.sendmail(SENDER, [address], data)
    return {"send_s": time.perf_counter() - t0, "send_cpu_s": time.process_time() - c0, "sent": n}


if __name__ == "__main__":
    sys.exit(main())
