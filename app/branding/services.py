"""Branding writes (the logo, the colour, footer and email layout settings) and the private
feed tokens. Plain functions, no commit: the caller commits.

A new logo's file is written before the commit, under a fresh random key, so nothing shows it
until the setting says so; the old file is deleted only after the commit, by the
`LogoDiscarded` subscriber (app.branding.subscribers), as profile photos do: a rolled-back
change keeps the old logo showing, and a committed one never leaves a page or an email pointing
at a deleted file.

Private feed: a feed reader cannot send the session cookie, so each person may have one secret
feed address (an AccessToken with purpose "feed", owned through created_by_id). Only the
SHA-256 of the secret is stored, so it is shown once; a new one revokes the old.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from app import audit
from app.branding import storage
from app.branding.queries import FEED_PURPOSE
from app.database import begin_write
from app.errors import Conflict
from app.errors import ValidationError
from app.events import Event
from app.events import emit
from app.extensions import db
from app.models import AccessToken
from app.models import User
from app.models import utcnow
from app.settings import SETTINGS
from app.settings import get_setting
from app.settings import set_settings
from app.tokens.services import hash_token

FEED_PREFIX = "fgf_feed_"
TOUCH_EVERY = timedelta(hours=1)  # last_used_at is written at most this often: not per poll
# What the branding page's form saves in one go (the logo has its own form); the form's
# fields are named after them. Not app.settings.PAGE_KEYS (what every page reads).
FORM_KEYS = ("brand_accent", "brand_footer", "teaser_threshold", "embed_images")


@dataclass(frozen=True)
class LogoDiscarded(Event, name="branding.logo_discarded"):
    """The logo was replaced or removed: its file goes once the setting no longer names it."""

    key: str


# -- the logo and the settings --------------------------------------------------------------------
def save_logo(data: bytes, *, actor: User | None) -> str:
    """Make `data` (an image's bytes) the logo; returns its key.

    Raises app.errors.ValidationError with a message for the person when the picture is refused
    (not an image, damaged, too many pixels, over BRAND_LOGO_MAX_BYTES); nothing is stored then.
    """
    payload = storage.render(data)
    key = storage.new_key()
    storage.write(key, payload)
    _replace_logo(key, actor)
    return key


def remove_logo(*, actor: User | None) -> bool:
    """Back to the sun mark; False (nothing changes) when there is no logo."""
    if get_setting("brand_logo") is None:
        return False
    _replace_logo(None, actor)
    return True


def _replace_logo(key: str | None, actor: User | None) -> None:
    old = get_setting("brand_logo")
    set_settings({"brand_logo": key}, actor=actor)
    if old and old != key:
        emit(LogoDiscarded(key=old))


class BrandingInvalid(ValidationError):
    """Some of the page's settings were refused; `errors` maps each key to its message (the
    form shows each next to its field)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(" ".join(errors.values()))
        self.errors = errors


def save_branding(values: dict[str, Any], *, actor: User | None) -> dict[str, Any]:
    """The accent colour, footer text and email layout: each checked by its setting's rule
    (app/settings.py: contrast, lines and length, range), all saved or none; returns what
    changed. Raises BrandingInvalid with every refusal."""
    unknown = set(values) - set(FORM_KEYS)
    if unknown:
        raise ValueError(f"not a branding setting: {sorted(unknown)}")
    errors = {}
    for key, value in values.items():
        try:
            SETTINGS[key].validate(value)
        except ValidationError as error:
            errors[key] = error.message
        except (TypeError, ValueError):
            errors[key] = "Enter a whole number."
    if errors:
        raise BrandingInvalid(errors)
    return set_settings(values, actor=actor)


# -- the private feed -----------------------------------------------------------------------------
def create_feed_token(user: User) -> tuple[AccessToken, str]:
    """A new private feed address for `user` (the previous one stops working); returns the
    token and its secret, which exists only in this response."""
    now = utcnow()
    _revoke_feed_tokens(user, now)
    secret = FEED_PREFIX + secrets.token_urlsafe(32)
    token = AccessToken(
        purpose=FEED_PURPOSE,
        name="Private feed",
        prefix=secret[: len(FEED_PREFIX) + 4],
        token_hash=hash_token(secret),
        created_by=user,
        created_at=now,
    )
    db.session.add(token)
    db.session.flush()
    audit.record(user, "feed.token.create", token, object_type="access_token")
    return token, secret


def turn_off_feed(user: User) -> None:
    """Revoke `user`'s private feed address; Conflict when there is none."""
    if not _revoke_feed_tokens(user, utcnow()):
        raise Conflict("Your private feed is already off.")
    audit.record(user, "feed.token.revoke", user)


def _revoke_feed_tokens(user: User, now: datetime) -> int:
    result = db.session.execute(
        sa.update(AccessToken)
        .where(
            AccessToken.purpose == FEED_PURPOSE,
            AccessToken.created_by_id == user.id,
            AccessToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def touch_due(token: AccessToken, now: datetime) -> bool:
    """Whether reading the feed now should update `last_used_at` (the first read in an hour)."""
    return token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY


def touch_feed_token(token_id: int, now: datetime | None = None) -> None:
    """Note that the feed was read, at most once per TOUCH_EVERY (the condition is in the UPDATE,
    so two readers polling at once write once). The feed is a GET, which begins as a reader:
    take the write lock first (`begin_write`)."""
    now = now or utcnow()
    begin_write()
    db.session.execute(
        sa.update(AccessToken)
        .where(
            AccessToken.id == token_id,
            sa.or_(AccessToken.last_used_at.is_(None),
                   AccessToken.last_used_at <= now - TOUCH_EVERY),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
