"""After a photo change commits: delete the discarded photo's files, unless an account still
refers to them (the change was undone, or it is somebody's again), and sweep files left by
uploads whose transaction never committed (over a day old, so a running upload keeps its)."""

from __future__ import annotations

from app.events import subscribe
from app.photos import queries
from app.photos import storage
from app.photos.services import PhotoDiscarded


@subscribe(PhotoDiscarded)
def delete_discarded_photo(event: PhotoDiscarded) -> None:
    if not queries.is_referenced(event.key):
        storage.delete(event.key)
    storage.prune_orphans(queries.referenced_keys(storage.stored_keys()))
