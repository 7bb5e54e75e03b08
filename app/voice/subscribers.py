"""The customer voice's periodic job: unredacted originals are purged once they are older than
the admin's `voice_original_days`, or all of them when originals are not kept
(app/voice/retention.py); and import files nobody confirmed are deleted once a day old."""

from __future__ import annotations

from collections.abc import Callable

from app.jobs import scheduled
from app.voice.importing import purge_expired
from app.voice.retention import purge_originals


@scheduled("voice", "Purge customers' unredacted originals past their retention",
           every="SCHEDULER_VOICE_SECONDS")
def purge_originals_job(should_stop: Callable[[], bool]) -> int:
    return purge_originals(should_stop=should_stop)


@scheduled("voice-imports", "Delete abandoned customer-voice import files",
           every="SCHEDULER_UPLOADS_SECONDS")
def purge_imports_job(should_stop: Callable[[], bool]) -> int:
    return purge_expired()
