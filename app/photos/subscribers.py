"""After a photo change commits: delete the discarded photo's files, unless an account still
refers to them (the change was undone, or it is somebody's again). A periodic job sweeps files
left by uploads whose transaction never committed (over a day old, so a running upload keeps
its), as the submissions feature does for cover pictures."""

from __future__ import annotations

from collections.abc import Callable

from app.events import subscribe
from app.jobs import scheduled
from app.photos import queries
from app.photos import storage
from app.photos.services import PhotoDiscarded


@subscribe(PhotoDiscarded)
def delete_discarded_photo(event: PhotoDiscarded) -> None:
    if not queries.is_referenced(event.key):
        storage.delete(event.key)


@scheduled("photos", "Delete photo files no account uses", every="SCHEDULER_UPLOADS_SECONDS")
def prune_photos_job(should_stop: Callable[[], bool]) -> int:
    return storage.prune_orphans(queries.referenced_keys(storage.stored_keys()))
