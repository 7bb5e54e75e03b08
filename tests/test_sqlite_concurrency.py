"""Many people saving at once: nobody gets the "try again" page, and nothing acknowledged is lost.

SQLite lets one connection write at a time. A transaction that reads first and writes later
cannot wait for that lock (its snapshot is stale once another writer commits), so it failed at
once with "database is locked" and half or more of the submissions got the 409 page. Writes
begin with BEGIN IMMEDIATE and wait their turn (app/database.py). The main test drives a gunicorn
(2 workers x 4 threads, the load of bench/concurrency.py, bounded) with real logins and the real
story form (CSRF token included). It runs on PostgreSQL too, where it must hold as well.
"""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from app.database import WRITE_LOCK
from app.database import begin_write
from app.extensions import db
from app.models import Story
from bench import concurrency


@pytest.mark.slow
def test_sixteen_writers_and_four_readers_are_all_served(app, tmp_path):
    with db.engine.begin() as conn:
        seeded = concurrency.seed(conn, writers=16, readers=4)
    db.session.rollback()
    url = app.config["SQLALCHEMY_DATABASE_URI"]

    with concurrency.serve(url, tmp_path, workers=2, threads=4) as port:
        tally = concurrency.drive(port, seeded, seconds=12, per_writer=25)

    with db.engine.connect() as conn:
        result = concurrency.check(conn, tally, seeded)
    submissions = tally.statuses["submit"]
    assert tally.refused == 0, f"{tally.refused} requests got the 409 page"
    assert tally.server_errors == 0
    assert tally.failures == []
    assert len(submissions) >= 16 and len(tally.statuses["read"]) >= 4  # the load really ran
    assert len(tally.acknowledged) == len(submissions)  # every POST redirected to its story
    assert result.lost == []
    assert result.stored == len(tally.acknowledged)  # and nothing unacknowledged was stored
    assert result.web_views == len(tally.edition_views)  # a write on GET counted every view


STORY = {
    "title": "The train was late",
    "body": "A colleague drove the customer to the airport herself after the train was cancelled.",
    "action": "submit",
}


@pytest.mark.app_config(SQLITE_BUSY_TIMEOUT_MS=300)
def test_a_writer_still_waiting_after_the_busy_timeout_gets_the_try_again_page(
    app, employee_client, caplog
):
    """The genuine overload: another connection keeps the write lock longer than the timeout."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL writers wait for row locks, not for one database-wide lock")
    blocker = sqlite3.connect(db.engine.url.database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        refused = employee_client.post("/stories/new", data=STORY)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert refused.status_code == 409
    assert "Please try again." in refused.get_data(as_text=True)
    assert "database locked on POST /stories/new" in caplog.text
    assert db.session.scalar(sa.select(sa.func.count(Story.id))) == 0

    saved = employee_client.post("/stories/new", data=STORY)
    assert saved.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(Story.id))) == 1


@pytest.fixture
def begun(app) -> list[bool]:
    """How each SQLite transaction began from now on: True for BEGIN IMMEDIATE."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite chooses how a transaction begins")
    kinds: list[bool] = []

    def record(conn) -> None:  # runs after app.database's listener, which sets the flag
        kinds.append(conn.info[WRITE_LOCK])

    sa.event.listen(db.engine, "begin", record)
    db.session.rollback()
    yield kinds
    sa.event.remove(db.engine, "begin", record)


def test_a_post_begins_with_the_write_lock_and_a_get_as_a_reader(employee_client, begun):
    employee_client.get("/stories/new")
    assert begun and not any(begun)
    db.session.rollback()  # the test keeps one session across requests; production does not
    begun.clear()
    assert employee_client.post("/stories/new", data=STORY).status_code == 302
    # The write, then the redirect's read after the commit (no second turn in the queue).
    assert begun == [True, False]
    db.session.rollback()
    begun.clear()
    employee_client.post("/api/preview", json={"markdown": "**hi**"})  # @reads_only
    assert begun == [False]


def test_begin_write_ends_a_read_and_takes_the_lock(app, employee, begun):
    db.session.scalar(sa.select(Story.id))  # a reader, like a GET page before it counts a view
    begin_write()
    begin_write()  # already writing: nothing changes
    db.session.add(Story(title="t", body_md="b", body_html="b", author=employee))
    db.session.commit()
    assert begun == [False, True]
