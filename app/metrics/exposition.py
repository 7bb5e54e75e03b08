"""The /metrics body: this process's metrics (or, in multiprocess mode, every gunicorn worker's,
summed from PROMETHEUS_MULTIPROC_DIR) followed by the database gauges.

Two text expositions one after the other are one valid exposition: their metric names differ.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client import REGISTRY
from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest
from prometheus_client import multiprocess
from sqlalchemy.engine import Engine

from app.metrics.collector import DatabaseCollector
from app.metrics.instruments import MULTIPROCESS

# The classic text format every Prometheus (2.x and 3.x) and its parser read; the names here
# need nothing newer.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


def process_registry() -> CollectorRegistry:
    """Multiprocess: a fresh registry reading every process's files (the documented way: one
    per scrape). Otherwise the default registry, with the process and platform collectors."""
    if not MULTIPROCESS:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
    return registry


def render(engine: Engine | None) -> bytes:
    """Everything /metrics shows; `engine` None leaves the database gauges out."""
    body = generate_latest(process_registry())
    if engine is not None:
        body += generate_latest(DatabaseCollector(engine))  # type: ignore[arg-type]
    return body
