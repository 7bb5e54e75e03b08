"""Gauges computed from the rows at scrape time: editions by status, deliveries by status, the
last minute's sends, the last successful send, the scheduler's latest heartbeat.

Not in the process registry: /metrics renders it beside the process's (or the workers') own
metrics, once per scrape. The scheduler's metrics port leaves it out, so a Prometheus scraping
both never counts a delivery twice. If the database does not answer, the scrape still succeeds
with fgf_metrics_database_up 0 (readiness reports the outage itself) within seconds: the view
passes readiness's probe engine (a fresh connection with a connect timeout) and every statement
here has a timeout, so a database that stops answering cannot hang the scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from app.metrics import queries
from app.models import DeliveryStatus
from app.models import EditionStatus

log = logging.getLogger(__name__)

STATEMENT_TIMEOUT_MS = 3000


class DatabaseCollector(Collector):
    """A one-scrape collector: `generate_latest(DatabaseCollector(engine))`."""

    def __init__(self, engine: Engine, now: datetime | None = None) -> None:
        self.engine = engine
        self.now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.now or datetime.now(UTC)
        up = GaugeMetricFamily(
            "fgf_metrics_database_up",
            "1 when the scrape could read the database for the fgf_ gauges below, else 0.")
        try:
            with self.engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    # A server that accepts but stalls must not hold the scrape (LOCAL: ends
                    # with this transaction, so a pooled connection is left as it was).
                    conn.exec_driver_sql(
                        f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS:d}")
                snap = queries.snapshot(conn, now)
        except SQLAlchemyError as exc:
            log.warning("metrics: the database gauges are missing: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        editions = GaugeMetricFamily(
            "fgf_editions", "Editions by status (rows in the database).", labels=["status"])
        for status in EditionStatus:
            editions.add_metric([status.value], snap.editions.get(status.value, 0))
        yield editions

        deliveries = GaugeMetricFamily(
            "fgf_deliveries", "Newsletter deliveries (one per recipient and edition) by status.",
            labels=["status"])
        for status in DeliveryStatus:
            deliveries.add_metric([status.value], snap.deliveries.get(status.value, 0))
        yield deliveries

        yield GaugeMetricFamily(
            "fgf_deliveries_sent_last_minute",
            "Newsletter messages sent in the last 60 seconds, by every sender (the send rate "
            "x 60).", value=snap.sent_last_minute)
        yield GaugeMetricFamily(
            "fgf_last_successful_send_timestamp_seconds",
            "When the latest newsletter message was accepted by the mail server (Unix time; "
            "0: never).", value=_timestamp(snap.last_sent_at))
        yield GaugeMetricFamily(
            "fgf_scheduler_last_heartbeat_timestamp_seconds",
            "The latest heartbeat of any scheduler process (Unix time; 0: never).",
            value=_timestamp(snap.last_heartbeat_at))
        if snap.last_heartbeat_at is not None:
            yield GaugeMetricFamily(
                "fgf_scheduler_heartbeat_age_seconds",
                "Seconds since any scheduler process last wrote its heartbeat.",
                value=max(0.0, (now - snap.last_heartbeat_at).total_seconds()))


def _timestamp(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0
