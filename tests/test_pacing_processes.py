"""The relay's rate holds across two real sender processes (tests/helpers_sender.py, the same
`run_edition` as the scheduler), measured at the real SMTP server: in no one second does it
receive more than the rate plus one slice per sender, the whole send takes at least as long as
the rate allows, and everyone gets the edition exactly once. Both databases (SQLite: a file
shared by the processes; the pacing row's write lock orders their turns)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import Edition
from app.models import EditionStatus
from app.newsletter import pacing
from tests.fixtures.pacing import busiest_second
from tests.fixtures.pacing import set_relay_limits
from tests.helpers_sender import seed_edition
from tests.helpers_sender import sender_job

pytestmark = pytest.mark.slow  # real sender processes
RATE = 40
RECIPIENTS = 200
SENDERS = 2
TIMEOUT = 90


def test_two_sender_processes_share_the_rate(app, smtp_server, smtp_stamps):
    set_relay_limits(rate=RATE)
    edition_id = seed_edition(recipients=RECIPIENTS - 3).id  # + the story's three people
    db.session.commit()
    slice_size = pacing.current_limits().slice_size(50)
    assert slice_size == RATE // 4

    start_at = time.time() + 3  # both have imported the app and wait for the same instant
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.helpers_sender", "run"],
            env=sender_job(database_url=app.config["SQLALCHEMY_DATABASE_URI"],
                           smtp_port=smtp_server.port, edition_id=edition_id, batch_size=50,
                           start_at=start_at, worker_id=f"w{i}"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(SENDERS)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))

    stamps = smtp_stamps.all()
    times = [at for at, _ in stamps]
    assert len(stamps) == RECIPIENTS
    # The rate, plus at most one slice in flight per sender, in any second.
    assert busiest_second(times) <= RATE + SENDERS * slice_size, busiest_second(times)
    # Slots are booked back to back: the last one starts (N - slice) / rate after the first.
    assert times[-1] - times[0] >= (RECIPIENTS - slice_size) / RATE - 0.1
    # Both took part, and nobody got it twice or not at all.
    assert all(r["sent"] > 0 for r in results), results
    received = Counter(address for _, address in stamps)
    db.session.rollback()
    rows = list(db.session.scalars(sa.select(Delivery).where(Delivery.edition_id == edition_id)))
    assert set(received) == {r.email for r in rows} and max(received.values()) == 1
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert db.session.get(Edition, edition_id).status == EditionStatus.SENT
