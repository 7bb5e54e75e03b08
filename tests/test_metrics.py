"""/metrics: the Prometheus text format, who may read it, what moves during a real send, and
the fixed cost of a scrape.

Counters are process-wide and the app is shared by the tests, so every assertion on a counter
is on how much it moved between two scrapes, never on its absolute value.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.metrics import access
from app.metrics import collector
from app.metrics import exposition
from app.metrics.collector import DatabaseCollector
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import EditionStatus
from app.models import SchedulerHeartbeat
from app.newsletter import scheduler
from app.newsletter import sending
from app.ops import readiness
from app.ops.readiness import probe_engine
from app.outbound import Outcome
from app.signals import outbound_attempted
from tests import factories
from tests.fixtures.metrics import Scrape
from tests.fixtures.smtp import SMTPServer
from tests.fixtures.smtp import configure_app_for
from tests.helpers_sender import seed_edition
from tests.querycount import count_queries

ELSEWHERE = {"REMOTE_ADDR": "203.0.113.7"}  # TEST-NET-3: never in the default allow-list


# -- the format ------------------------------------------------------------------------------------


def test_metrics_parse_with_the_prometheus_parser(app, client):
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert response.headers["Cache-Control"] == "no-store"
    scrape = Scrape(response.get_data(as_text=True))
    names = {f.name for f in scrape.families}
    for name in ("fgf_http_requests", "fgf_http_request_duration_seconds", "fgf_editions",
                 "fgf_deliveries", "fgf_deliveries_sent_last_minute",
                 "fgf_last_successful_send_timestamp_seconds", "fgf_metrics_database_up",
                 "fgf_scheduler_last_heartbeat_timestamp_seconds"):
        assert name in names, name
    assert {f.type for f in scrape.families if f.name.startswith("fgf_")} <= {
        "counter", "gauge", "histogram"}
    assert scrape.value("fgf_metrics_database_up") == 1
    # Every state is reported, with 0 where there is nothing: series never appear and vanish.
    assert {s.labels["status"] for s in scrape.samples if s.name == "fgf_editions"} == {
        s.value for s in EditionStatus}
    assert {s.labels["status"] for s in scrape.samples if s.name == "fgf_deliveries"} == {
        s.value for s in DeliveryStatus}


def test_request_counter_moves_by_exactly_the_requests_made(app, client, scrape):
    before = scrape()
    for _ in range(7):
        assert client.get("/healthz").status_code == 200
    for _ in range(3):
        assert client.get("/no/such/page/" + "x" * 50).status_code == 404
    after = scrape()

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("fgf_http_requests_total", endpoint="main.healthz", method="GET",
                 status="200") == 7
    assert moved("fgf_http_request_duration_seconds_count", endpoint="main.healthz") == 7
    assert moved("fgf_http_request_duration_seconds_sum", endpoint="main.healthz") > 0
    # Unmatched paths share one series: the raw path is never a label.
    assert moved("fgf_http_requests_total", endpoint="none", status="404") == 3
    assert "no/such/page" not in after.text
    # The first scrape itself was counted by the time of the second.
    assert moved("fgf_http_requests_total", endpoint="metrics.metrics", status="200") == 1


def test_a_request_that_raises_is_counted_as_a_500(app, client, scrape, monkeypatch):
    from app.main import views as main_views

    def broken():
        raise RuntimeError("boom")

    before = scrape()
    monkeypatch.setitem(app.view_functions, "main.healthz", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert client.get("/healthz").status_code == 500
    monkeypatch.setitem(app.view_functions, "main.healthz", main_views.healthz)
    after = scrape()
    assert (after.value("fgf_http_requests_total", endpoint="main.healthz", status="500")
            - before.value("fgf_http_requests_total", endpoint="main.healthz", status="500")) == 1


# -- a real send -----------------------------------------------------------------------------------


def test_counters_and_gauges_move_during_a_send(app, smtp_server: SMTPServer, scrape):
    configure_app_for(app, smtp_server)
    edition = seed_edition(recipients=6)
    db.session.commit()
    smtp_server.refuse_rcpt["staff2@example.com"] = (550, "5.1.1 No such user")
    before = scrape()
    assert before.value("fgf_deliveries") == 0
    started = time.time()

    sending.run_edition(edition.id)

    after = scrape()
    rows = db.session.execute(
        sa.select(Delivery.status, sa.func.count()).group_by(Delivery.status)).all()
    counts = {status.value: n for status, n in rows}
    total = sum(counts.values())
    assert total == 9  # six staff and the three people the seeded stories name

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("fgf_smtp_errors_total", kind="edition", code="550") == 1
    assert moved("fgf_smtp_errors_total") == 1
    assert moved("fgf_mail_answered_total", kind="edition", status="sent") == total - 1
    assert moved("fgf_mail_answered_total", kind="edition", status="permanent") == 1
    assert after.value("fgf_deliveries", status="sent") == total - 1 == counts["sent"]
    assert after.value("fgf_deliveries", status="failed") == 1
    assert after.value("fgf_deliveries", status="pending") == 0
    assert after.value("fgf_deliveries_sent_last_minute") == total - 1
    assert after.value("fgf_editions", status="sent") == 1
    last = after.value("fgf_last_successful_send_timestamp_seconds")
    assert started - 1 <= last <= time.time() + 1
    newest = db.session.scalar(sa.select(sa.func.max(Delivery.sent_at)))
    assert last == pytest.approx(newest.timestamp(), abs=1e-3)


def test_send_rate_counts_only_the_last_minute(app):
    edition = factories.make_edition(status=EditionStatus.SENT)
    now = datetime(2026, 6, 5, 7, 0, tzinfo=UTC)
    ages = [5, 30, 59, 61, 600]
    db.session.add_all([
        Delivery(edition_id=edition.id, email=f"p{i}@example.com", message_id=f"<{i}@x>",
                 status=DeliveryStatus.SENT, sent_at=now - timedelta(seconds=age))
        for i, age in enumerate(ages)])
    db.session.add(SchedulerHeartbeat(id="h:1:1", hostname="h", pid=1, started_at=now,
                                      seen_at=now - timedelta(seconds=42)))
    db.session.commit()
    scrape = Scrape(exposition.generate_latest(DatabaseCollector(db.engine, now=now)).decode())
    assert scrape.value("fgf_deliveries_sent_last_minute") == 3
    assert scrape.value("fgf_last_successful_send_timestamp_seconds") == (
        now - timedelta(seconds=5)).timestamp()
    assert scrape.value("fgf_scheduler_heartbeat_age_seconds") == 42
    assert scrape.value("fgf_scheduler_last_heartbeat_timestamp_seconds") == (
        now - timedelta(seconds=42)).timestamp()


def test_an_unreachable_database_leaves_the_scrape_up(app, tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}")
    scrape = Scrape(exposition.render(engine).decode())
    assert scrape.value("fgf_metrics_database_up") == 0
    assert not scrape.has("fgf_deliveries")
    assert scrape.has("fgf_http_requests_total") or "fgf_http_requests" in scrape.text


@pytest.mark.slow  # waits out the connect timeout (3 s)
def test_a_database_that_never_answers_gives_database_up_0_within_seconds(
        app, client, monkeypatch):
    """A server that takes the TCP connection but never answers (a hung host, a full backlog):
    the app's own pool would wait for the operating system; the scrape must not."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # the kernel completes the handshakes; nobody ever accept()s
    try:
        port = listener.getsockname()[1]
        engine = readiness.server_probe_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/fgf")
        monkeypatch.setitem(app.extensions, readiness._ENGINE_KEY, engine)
        result: dict[str, object] = {}

        def scrape() -> None:
            result["response"] = client.get("/metrics")

        started = time.monotonic()
        worker = threading.Thread(target=scrape, daemon=True)
        worker.start()
        worker.join(timeout=20)
        elapsed = time.monotonic() - started
        assert not worker.is_alive(), "the scrape hung"
    finally:
        listener.close()
    assert elapsed < readiness.PROBE_TIMEOUT_SECONDS + 5, elapsed
    response = result["response"]
    assert response.status_code == 200
    scraped = Scrape(response.get_data(as_text=True))
    assert scraped.value("fgf_metrics_database_up") == 0
    assert not scraped.has("fgf_deliveries")


@pytest.mark.slow  # waits out the statement timeout (3 s)
def test_a_database_that_stalls_on_a_query_gives_database_up_0_within_seconds(app, client):
    """Connected, but the query waits (here on a lock another session holds): the statement
    timeout ends the scrape's wait on PostgreSQL."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("statement timeouts are PostgreSQL's (SQLite's wait is the busy timeout)")
    with db.engine.connect() as holder:
        holder.exec_driver_sql("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        response = client.get("/metrics")
        elapsed = time.monotonic() - started
        holder.rollback()
    assert elapsed < collector.STATEMENT_TIMEOUT_MS / 1000 + 5, elapsed
    assert Scrape(response.get_data(as_text=True)).value("fgf_metrics_database_up") == 0


# -- signals from the scheduler and the integrations ----------------------------------------------


def test_scheduler_jobs_are_counted_with_their_failures(app, scrape):
    before = scrape()
    scheduler._run_in_app(app, "metrics test job", lambda: None)()
    scheduler._run_in_app(app, "metrics test job", lambda: 1 / 0)()  # logged, counted
    after = scrape()

    def moved(name: str) -> float:
        job = "metrics test job"
        return after.value(name, job=job) - before.value(name, job=job)

    assert moved("fgf_scheduler_job_runs_total") == 2
    assert moved("fgf_scheduler_job_failures_total") == 1
    assert moved("fgf_scheduler_job_duration_seconds_count") == 2
    assert after.value("fgf_scheduler_job_last_success_timestamp_seconds",
                       job="metrics test job") == pytest.approx(time.time(), abs=30)


def test_outbound_attempts_are_counted_by_channel_and_outcome(app, scrape):
    before = scrape()
    for outcome in (Outcome.DONE, Outcome.DONE, Outcome.DEFERRED, Outcome.FAILED, Outcome.LOST):
        outbound_attempted.send("webhooks", outcome=outcome)
    after = scrape()

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("fgf_outbound_attempts_total", channel="webhooks", outcome="done") == 2
    assert moved("fgf_outbound_attempts_total", channel="webhooks") == 5
    assert moved("fgf_outbound_failures_total", channel="webhooks") == 2  # deferred, failed


# -- who may read it -------------------------------------------------------------------------------


def test_loopback_is_allowed_and_other_addresses_refused(app, client):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    refused = client.get("/metrics", environ_base=ELSEWHERE)
    assert refused.status_code == 403
    assert refused.mimetype == "text/plain" and "METRICS_ALLOW" in refused.get_data(as_text=True)
    assert "fgf_" not in refused.get_data(as_text=True)
    assert refused.headers["Cache-Control"] == "no-store"

    app.config["METRICS_ALLOW"] = "10.0.0.0/8, 203.0.113.0/24"
    assert client.get("/metrics", environ_base=ELSEWHERE).status_code == 200
    assert client.get("/metrics").status_code == 403  # loopback is no longer listed
    app.config["METRICS_ALLOW"] = ""
    assert client.get("/metrics").status_code == 403


def test_a_bearer_token_opens_it_from_anywhere_and_a_wrong_one_never(app, client):
    token = "metrics-" + "k" * 40
    assert client.get("/metrics", environ_base=ELSEWHERE,
                      headers={"Authorization": f"Bearer {token}"}).status_code == 403  # none set
    app.config["METRICS_TOKEN"] = token
    assert client.get("/metrics", environ_base=ELSEWHERE,
                      headers={"Authorization": f"Bearer {token}"}).status_code == 200
    for wrong in (f"Bearer {token}x", f"Bearer {token[:-1]}", "Bearer ", f"Basic {token}", token):
        response = client.get("/metrics", environ_base=ELSEWHERE,
                              headers={"Authorization": wrong})
        assert response.status_code == 403, wrong
        # Presenting a token means being judged by it, even from an allowed address.
        assert client.get("/metrics", headers={"Authorization": wrong}).status_code == 403, wrong


def test_a_request_through_a_proxy_needs_the_token(app, client):
    """Behind a proxy on the same host every request comes from 127.0.0.1; the forwarding header
    the proxy adds is what tells them apart."""
    for header in ({"X-Forwarded-For": "198.51.100.4"}, {"Forwarded": "for=198.51.100.4"}):
        assert client.get("/metrics", headers=header).status_code == 403
    app.config["METRICS_TOKEN"] = "t" * 32
    headers = {"X-Forwarded-For": "198.51.100.4", "Authorization": "Bearer " + "t" * 32}
    assert client.get("/metrics", headers=headers).status_code == 200


def test_no_session_cookie_and_no_rate_limit(app, client, make_user):
    from tests.fixtures.users import login

    user = make_user()
    db.session.commit()
    login(client, user)
    for _ in range(30):
        response = client.get("/metrics")
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
        assert "Cookie" not in response.headers.get("Vary", "")


def test_the_allow_list_is_parsed_strictly():
    assert access.address_allowed("127.0.0.1", "127.0.0.1/32,::1/128")
    assert access.address_allowed("::ffff:127.0.0.1", "127.0.0.0/8")
    assert access.address_allowed("10.1.2.3", " 10.0.0.0/8 ,")
    assert access.address_allowed("192.0.2.5", "192.0.2.5")  # a bare address
    assert not access.address_allowed("10.1.2.3", "")
    assert not access.address_allowed("not an address", "0.0.0.0/0")
    assert not access.address_allowed(None, "0.0.0.0/0")
    with pytest.raises(ValueError, match="10.0.0.300"):
        access.parse_allow("127.0.0.1/32, 10.0.0.300/8")


@pytest.mark.own_app
def test_a_malformed_allow_list_stops_the_app_at_start(migrated_url):
    from app import create_app

    with pytest.raises(ValueError, match="METRICS_ALLOW"):
        create_app("testing", SQLALCHEMY_DATABASE_URI=migrated_url, METRICS_ALLOW="localhost")


# -- cost ------------------------------------------------------------------------------------------


def test_a_scrape_costs_three_statements_whatever_the_data(app, client):
    def statements() -> list[str]:
        # The scrape reads through readiness's probe engine (see test_a_database_that_never_
        # answers...); on PostgreSQL it first sets its statement timeout, which is not a query.
        with count_queries(probe_engine(app)) as queries:
            assert client.get("/metrics").status_code == 200
        return [sql for sql in queries.statements if not sql.startswith("SET LOCAL")]

    empty = statements()
    assert len(empty) == 3, empty

    now = datetime.now(UTC)
    for status in (EditionStatus.SENT, EditionStatus.SENT, EditionStatus.SCHEDULED):
        edition = factories.make_edition(status=status)
        db.session.execute(sa.insert(Delivery), [
            {"edition_id": edition.id, "email": f"p{i}@example.com", "message_id": f"<{i}@x>",
             "status": DeliveryStatus.SENT if i % 3 else DeliveryStatus.PENDING,
             "sent_at": now - timedelta(seconds=i) if i % 3 else None, "created_at": now}
            for i in range(400)])
    db.session.commit()
    full = statements()
    assert len(full) == len(empty) == 3, full


# -- the scheduler's port, in this process ---------------------------------------------------------


def test_the_scheduler_port_starts_and_stops_with_the_scheduler_signals(app):
    from app.metrics import scheduler as metrics_port
    from app.signals import scheduler_started
    from app.signals import scheduler_stopped
    from tests.fixtures.metrics import free_port
    from tests.fixtures.metrics import http_get

    port = free_port()
    app.config.update(SCHEDULER_METRICS_PORT=port, SCHEDULER_METRICS_HOST="127.0.0.1")
    scheduler_started.send(app, scheduler_id="test:1:1")
    try:
        scheduler_started.send(app, scheduler_id="test:1:1")  # once per process
        status, body = http_get(port, "/metrics")
        assert status == 200
        assert "fgf_http_requests_total" in body or "fgf_http_requests" in body
        assert "fgf_deliveries{" not in body  # the database gauges are the web's
    finally:
        scheduler_stopped.send(app, scheduler_id="test:1:1")
    assert metrics_port._server is None
    with pytest.raises(OSError):
        http_get(port, "/metrics", timeout=2)


def test_a_busy_scheduler_port_is_logged_not_raised(app, caplog):
    import socket

    from app.metrics import scheduler as metrics_port
    from app.signals import scheduler_started

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        app.config.update(SCHEDULER_METRICS_PORT=busy.getsockname()[1])
        scheduler_started.send(app, scheduler_id="test:1:1")  # the scheduler goes on
    assert metrics_port._server is None
    assert "unavailable" in caplog.text
