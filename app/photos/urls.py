"""Links to profile photos: for pages (signed-in staff) and for emails (no session).

Pages link `/photos/<key>-<size>.jpg`, which needs a signed-in person: the key shows in every
page's HTML, and a face is personal data that should not be fetchable by whoever learns it.
Emails are read outside the app (a mail client, an image proxy, a forwarded message), so they
link `/photos/mail/<token>.jpg`, where the token is an itsdangerous signature (SECRET_KEY, like
the unsubscribe links) of the account, the photo key and the size: only the app can make one, a
key seen on a page does not give one, and each stops working when its person removes the photo.
A replaced photo's token shows the person's current photo, so an old email shows today's face.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask import url_for
from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer

from app.photos import storage
from app.web.avatars import photo_box
from app.web.urls import absolute_url

EMAIL_SIZE = 48  # shown at 24 px: sharp on 2x screens, a couple of KB per face


@dataclass(frozen=True, slots=True)
class AvatarPhoto:
    src: str
    srcset: str
    box: int


def photo_url(key: str, size: int = 96) -> str:
    """The page link to `key`'s photo at `size` px (in a request)."""
    return url_for("photos.photo", name=storage.file_name(key, size))


def avatar_photo(key: str, size: str | None = None) -> AvatarPhoto:
    """What the avatar macro needs to show `key` at an avatar size (None, "sm", "lg")."""
    box, one, two = photo_box(size)
    return AvatarPhoto(photo_url(key, one), f"{photo_url(key, two)} 2x", box)


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="feelgood.photo-email")


def email_photo_url(user_id: int, key: str, size: int = EMAIL_SIZE) -> str:
    """The absolute, session-free link to a photo for an email (works in any process)."""
    token = _signer().dumps([user_id, key, size])
    return absolute_url("photos.mail_photo", token=token)


def read_email_token(token: str) -> tuple[int, str, int] | None:
    """(user id, key, size) of a genuine email photo token, else None."""
    try:
        data = _signer().loads(token)
    except BadSignature:
        return None
    if not (isinstance(data, list) and len(data) == 3):
        return None
    user_id, key, size = data
    if not (isinstance(user_id, int) and isinstance(key, str) and size in storage.SIZES):
        return None
    return user_id, key, size
