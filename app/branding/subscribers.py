"""After a logo change commits: delete the discarded logo's file, unless the setting names it
again (the change was undone). Files of uploads whose transaction never committed are swept at
the same time, once over a day old (so an upload in progress keeps its file)."""

from __future__ import annotations

from app.branding import storage
from app.branding.services import LogoDiscarded
from app.events import subscribe
from app.settings import get_setting


@subscribe(LogoDiscarded)
def delete_discarded_logo(event: LogoDiscarded) -> None:
    current = get_setting("brand_logo")
    if event.key != current:
        storage.delete(event.key)
    storage.prune_orphans(current)
