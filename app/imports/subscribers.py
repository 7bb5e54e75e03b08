"""The people import's periodic job: uploads nobody confirmed are deleted once a day old
(otherwise only the next upload would sweep them)."""

from __future__ import annotations

from collections.abc import Callable

from app.imports.services import purge_expired
from app.jobs import scheduled


@scheduled("people-imports", "Delete abandoned people-import files",
           every="SCHEDULER_UPLOADS_SECONDS")
def purge_imports_job(should_stop: Callable[[], bool]) -> int:
    return purge_expired()
