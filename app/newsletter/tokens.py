"""Signed unsubscribe links: stable per recipient, no expiry (RFC 8058 one-click must keep working
in old emails), forgeable by nobody without SECRET_KEY.

A token is `u<user id>.<signature>` for an account, or `e<base64url address>.<signature>` for an
extra address an admin added (a distribution list). It is an itsdangerous `Signer` value with
salt "unsubscribe": no timestamp, no JSON and no compression, so one recipient's link is the same
in every edition and signing costs a few microseconds per message.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature
from itsdangerous import Signer

from app.errors import TokenError

SALT = "unsubscribe"


@dataclass(frozen=True, slots=True)
class UnsubscribeTarget:
    user_id: int | None
    email: str | None


def signer() -> Signer:
    """Build once per batch and reuse: `sign` is then the only per-recipient cost."""
    return Signer(current_app.config["SECRET_KEY"], salt=SALT)


def make_unsubscribe_token(
    *, user_id: int | None, email: str | None = None, using: Signer | None = None
) -> str:
    if user_id is not None:
        value = f"u{int(user_id)}"
    elif email:
        value = "e" + base64.urlsafe_b64encode(email.encode()).decode().rstrip("=")
    else:
        raise ValueError("an unsubscribe token needs a user id or an address")
    return (using or signer()).sign(value).decode()


def read_unsubscribe_token(token: str) -> UnsubscribeTarget:
    try:
        value = signer().unsign(token).decode()
    except BadSignature:
        raise TokenError(
            "This unsubscribe link is not valid. Check that you copied all of it."
        ) from None
    kind, data = value[:1], value[1:]
    if kind == "u" and data.isdigit():
        return UnsubscribeTarget(user_id=int(data), email=None)
    if kind == "e" and data:
        try:
            email = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            email = ""
        if email:
            return UnsubscribeTarget(user_id=None, email=email)
    raise TokenError("This unsubscribe link is not valid.")
