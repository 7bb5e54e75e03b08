"""The privacy feature's nightly job: audit entries and delivery rows past their retention go
(app/privacy/retention.py), a batch per transaction."""

from __future__ import annotations

from collections.abc import Callable

from app.jobs import scheduled
from app.privacy import retention


@scheduled("retention", "Delete audit entries and delivery rows past their retention",
           every="SCHEDULER_RETENTION_SECONDS")
def retention_job(should_stop: Callable[[], bool]) -> int:
    pruned = retention.run(should_stop)
    return pruned.audit + pruned.deliveries
