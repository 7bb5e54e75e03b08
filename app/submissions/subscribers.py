"""The submissions feature's periodic job: cover pictures no story uses are deleted (abandoned
forms, replaced or removed covers), once they are a day old (`uploads.prune_orphaned_uploads`)."""

from __future__ import annotations

from collections.abc import Callable

from app.jobs import scheduled
from app.submissions import queries
from app.submissions import uploads


@scheduled("uploads", "Delete cover pictures no story uses", every="SCHEDULER_UPLOADS_SECONDS")
def prune_uploads_job(should_stop: Callable[[], bool]) -> int:
    return uploads.prune_orphaned_uploads(queries.referenced_cover_images())
