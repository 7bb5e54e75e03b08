"""Signed "stop these emails" links: one per person and kind, no login, no expiry.

Like the newsletter's unsubscribe tokens (app.newsletter.tokens) they must keep working in old
emails (RFC 8058 one-click), so they carry no timestamp; a different salt keeps the two apart.
The value is `<user id>.<kind key>`, signed with SECRET_KEY.
"""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature
from itsdangerous import Signer

from app.errors import TokenError
from app.notifications.kinds import KINDS
from app.notifications.kinds import Kind

SALT = "notification-off"


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt=SALT)


def make_token(user_id: int, kind: Kind) -> str:
    if kind.essential:
        raise ValueError(f"{kind.key} notifications cannot be turned off")
    return _signer().sign(f"{int(user_id)}.{kind.key}").decode()


def read_token(token: str) -> tuple[int, Kind]:
    """(user id, kind), or TokenError with a message a person can act on."""
    try:
        value = _signer().unsign(token).decode()
    except (BadSignature, UnicodeDecodeError):
        raise TokenError(
            "This link to stop emails is not valid. Check that you copied all of it, or change "
            "your email settings on your profile."
        ) from None
    user_id, _, key = value.partition(".")
    kind = KINDS.get(key)
    if not user_id.isdigit() or kind is None or kind.essential:
        raise TokenError("This link to stop emails is not valid any more. Change your email "
                         "settings on your profile.")
    return int(user_id), kind
