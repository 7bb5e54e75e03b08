"""After a logo change commits: delete the discarded logo's file, unless the setting names it
again (the change was undone). Files of uploads whose transaction never committed are swept at
the same time, once over a day old (so an upload in progress keeps its file), and by a periodic
job too: without a logo change they would otherwise stay for ever."""

from __future__ import annotations

from collections.abc import Callable

from app.branding import storage
from app.branding.services import LogoDiscarded
from app.events import subscribe
from app.jobs import scheduled
from app.settings import get_setting


@subscribe(LogoDiscarded)
def delete_discarded_logo(event: LogoDiscarded) -> None:
    current = get_setting("brand_logo")
    if event.key != current:
        storage.delete(event.key)
    storage.prune_orphans(current)


@scheduled("logos", "Delete logo files the branding does not use",
           every="SCHEDULER_UPLOADS_SECONDS")
def prune_logos_job(should_stop: Callable[[], bool]) -> int:
    return storage.prune_orphans(get_setting("brand_logo"))
