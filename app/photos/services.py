"""Profile photo writes: set (from the profile form or the identity provider's `picture`
claim) and remove. Plain functions, no commit: the caller commits.

The new files are written before the commit (under a fresh random key, so nothing shows them
until the row says so); the old ones are deleted only after it, by the `PhotoDiscarded`
subscriber, and only when no account refers to them any more: a rolled-back change keeps the
old photo showing, and a committed one never leaves a page pointing at a deleted file.
"""

from __future__ import annotations

from dataclasses import dataclass

from app import audit
from app.events import Event
from app.events import emit
from app.extensions import db
from app.models import User
from app.photos import storage


@dataclass(frozen=True)
class PhotoDiscarded(Event, name="photo.discarded"):
    """A person's photo was replaced or removed: its files go once nothing refers to them."""

    user_id: int | None
    key: str


def save_photo(user: User, data: bytes) -> None:
    """Make `data` (an image's bytes) `user`'s photo.

    Raises app.errors.ValidationError with a message for the person when the picture is refused
    (not an image, damaged, too many pixels, over PHOTO_MAX_BYTES); nothing is stored then.
    """
    renditions = storage.render(data)
    key = storage.new_key()
    storage.write(key, renditions)
    _replace(user, key, "user.photo_set")


def remove_photo(user: User) -> None:
    """Back to initials; does nothing when there is no photo."""
    if user.photo_key:
        _replace(user, None, "user.photo_removed")


def _replace(user: User, key: str | None, action: str) -> None:
    old = user.photo_key
    user.photo_key = key
    if user.id is None and user in db.session:
        db.session.flush()  # a just-created account (single sign-on): the event names its id
    if user.id is not None:
        audit.record(user, action, user)
    if old:
        emit(PhotoDiscarded(user_id=user.id, key=old))
