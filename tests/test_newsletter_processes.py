"""Real sender processes: killed with SIGKILL mid-send and restarted; two started at once.

The senders run `tests/helpers_sender.py` (the same `run_edition` as the scheduler) against this
test's database and its aiosmtpd server, so the guarantees are checked across process
boundaries, not simulated: exactly one `sent` row per recipient, each address received at least
once and at most once more than the batch in flight at the kill, and no address twice when two
senders share an edition.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import Edition
from app.models import EditionStatus
from tests.fixtures.smtp import SMTPServer
from tests.helpers_sender import seed_edition
from tests.helpers_sender import sender_job

pytestmark = pytest.mark.slow  # real sender processes
BATCH = 20
RECIPIENTS = 300
TIMEOUT = 60


def _spawn(app: Flask, server: SMTPServer, edition_id: int, **job) -> subprocess.Popen:
    env = sender_job(
        database_url=app.config["SQLALCHEMY_DATABASE_URI"],
        smtp_port=server.port,
        edition_id=edition_id,
        batch_size=BATCH,
        **job,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "tests.helpers_sender", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _newsletter_counts(server: SMTPServer) -> Counter:
    return Counter(a for m in server.messages if m.message["List-Id"] for a in m.rcpt_tos)


def _rows(edition_id: int) -> list[Delivery]:
    db.session.rollback()  # end the read transaction: see what the other processes committed
    return list(db.session.scalars(sa.select(Delivery).where(Delivery.edition_id == edition_id)))


def test_sender_killed_mid_send_resumes_without_losing_anyone(app, smtp_server):
    edition_id = seed_edition(recipients=RECIPIENTS).id
    db.session.commit()

    first = _spawn(app, smtp_server, edition_id, claim_timeout=1)
    deadline = time.monotonic() + TIMEOUT
    while len(smtp_server.messages) < 3 * BATCH:
        assert first.poll() is None, first.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the sender never got going"
        time.sleep(0.002)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=TIMEOUT)
    assert first.returncode == -signal.SIGKILL
    at_kill = _newsletter_counts(smtp_server)
    rows = _rows(edition_id)
    assert len(rows) > len(at_kill)  # every recipient has a row before the first message
    assert any(r.status != DeliveryStatus.SENT for r in rows), "killed too late to test anything"

    time.sleep(1.1)  # the dead process's claims expire (NEWSLETTER_CLAIM_TIMEOUT_SECONDS=1)
    result = _finish(_spawn(app, smtp_server, edition_id, claim_timeout=1))
    assert result["finished"] is True

    rows = _rows(edition_id)
    addresses = {r.email for r in rows}
    assert len(rows) == len(addresses)  # one row per recipient
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    received = _newsletter_counts(smtp_server)
    assert set(received) == addresses  # nobody missed
    duplicates = sum(n - 1 for n in received.values())
    assert duplicates <= BATCH, f"{duplicates} duplicates; at most the batch in flight may repeat"
    # A repeated message is the same message: same Message-ID, so servers can drop it.
    ids = {}
    for message in smtp_server.messages:
        if message.message["List-Id"]:
            ids.setdefault(message.rcpt_tos[0], set()).add(message.message["Message-ID"])
    assert all(len(v) == 1 for v in ids.values())
    db.session.rollback()
    assert db.session.get(Edition, edition_id).status == EditionStatus.SENT


def test_two_senders_started_together_never_send_twice(app, smtp_server):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("several senders per edition is a PostgreSQL feature (SKIP LOCKED)")
    edition_id = seed_edition(recipients=RECIPIENTS).id
    db.session.commit()

    start_at = time.time() + 2.5  # both have imported the app and wait for the same instant
    processes = [
        _spawn(app, smtp_server, edition_id, start_at=start_at, worker_id=f"w{i}")
        for i in range(2)
    ]
    results = [_finish(p) for p in processes]

    assert sorted(r["claimed"] for r in results) == [False, True]
    assert sum(r["finished"] for r in results) == 1
    received = _newsletter_counts(smtp_server)
    rows = _rows(edition_id)
    assert set(received) == {r.email for r in rows}
    assert max(received.values()) == 1, [a for a, n in received.items() if n > 1]
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert sum(r["sent"] for r in results) == len(rows)
    # Publishing and notifications happened once.
    notes = Counter(m.rcpt_tos[0] for m in smtp_server.messages if not m.message["List-Id"])
    assert notes and max(notes.values()) == 1
